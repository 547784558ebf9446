// gotls: Go crypto/tls at both ends for flowtap's TLS tests, standard library
// only (built in GOPATH mode like h2c).
//
//	gotls client BASE_URL CA_FILE  says "ready", waits for a line on stdin, then
//	                               GETs /hello, POSTs /echo and GETs /missing on one
//	                               keep-alive HTTP/1.1 connection; prints what it got
//	gotls wrapped BASE_URL CA_FILE GET /hello?wrapped over a TLS conn on a wrapped
//	                               net.Conn (not a *net.TCPConn); prints the body
//	gotls server ADDR CERT KEY     HTTPS (h2 and HTTP/1.1 by ALPN) on ADDR (host:port)
//	                               until stdin closes; says "listening" when ready
package main

import (
	"bufio"
	"context"
	"crypto/tls"
	"crypto/x509"
	"encoding/json"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/url"
	"os"
	"strings"
)

func main() {
	if len(os.Args) < 2 {
		fail("usage: gotls client|server ...")
	}
	switch os.Args[1] {
	case "client":
		client(os.Args[2], os.Args[3])
	case "wrapped":
		wrapped(os.Args[2], os.Args[3])
	case "server":
		server(os.Args[2], os.Args[3], os.Args[4])
	default:
		fail("unknown mode " + os.Args[1])
	}
}

func fail(why string) {
	fmt.Fprintln(os.Stderr, "gotls:", why)
	os.Exit(1)
}

// tlsConfig trusts caFile and asks for base's host.
func tlsConfig(base, caFile string) *tls.Config {
	pem, err := os.ReadFile(caFile)
	if err != nil {
		fail(err.Error())
	}
	pool := x509.NewCertPool()
	pool.AppendCertsFromPEM(pem)
	u, err := url.Parse(base)
	if err != nil {
		fail(err.Error())
	}
	return &tls.Config{RootCAs: pool, ServerName: u.Hostname()}
}

func client(base, caFile string) {
	hc := &http.Client{Transport: &http.Transport{
		TLSClientConfig:     tlsConfig(base, caFile),
		MaxIdleConnsPerHost: 1,
	}}
	fmt.Println("ready")
	bufio.NewReader(os.Stdin).ReadString('\n')
	said := map[string]interface{}{}
	do := func(name string, req *http.Request) {
		resp, err := hc.Do(req)
		if err != nil {
			fail(err.Error())
		}
		body, err := io.ReadAll(resp.Body)
		resp.Body.Close()
		if err != nil {
			fail(err.Error())
		}
		said[name] = map[string]interface{}{"status": resp.StatusCode, "body": string(body)}
	}
	get, _ := http.NewRequest("GET", base+"/hello", nil)
	do("get", get)
	post, _ := http.NewRequest("POST", base+"/echo", strings.NewReader("posted by go\n"))
	post.Header.Set("Content-Type", "text/plain")
	do("post", post)
	missing, _ := http.NewRequest("GET", base+"/missing", nil)
	do("missing", missing)
	out, _ := json.Marshal(said)
	fmt.Println(string(out))
}

// countingConn is a net.Conn that is not a *net.TCPConn, as a wrapper that
// meters or logs a connection is.
type countingConn struct {
	net.Conn
	read int
}

func (c *countingConn) Read(b []byte) (int, error) {
	n, err := c.Conn.Read(b)
	c.read += n
	return n, err
}

func wrapped(base, caFile string) {
	hc := &http.Client{Transport: &http.Transport{
		DialTLSContext: func(ctx context.Context, network, addr string) (net.Conn, error) {
			raw, err := (&net.Dialer{}).DialContext(ctx, network, addr)
			if err != nil {
				return nil, err
			}
			conn := tls.Client(&countingConn{Conn: raw}, tlsConfig(base, caFile))
			return conn, conn.HandshakeContext(ctx)
		},
	}}
	resp, err := hc.Get(base + "/hello?wrapped")
	if err != nil {
		fail(err.Error())
	}
	body, err := io.ReadAll(resp.Body)
	resp.Body.Close()
	if err != nil {
		fail(err.Error())
	}
	fmt.Print(string(body))
}

func server(addr, cert, key string) {
	mux := http.NewServeMux()
	mux.HandleFunc("/hello", func(w http.ResponseWriter, r *http.Request) {
		io.WriteString(w, "hello from go\n")
	})
	mux.HandleFunc("/echo", func(w http.ResponseWriter, r *http.Request) {
		body, _ := io.ReadAll(r.Body)
		w.Header().Set("Content-Type", "text/plain")
		w.WriteHeader(http.StatusCreated)
		w.Write(body)
	})
	mux.HandleFunc("/", func(w http.ResponseWriter, r *http.Request) {
		http.Error(w, "no such thing", http.StatusNotFound)
	})
	ln, err := net.Listen("tcp", addr)
	if err != nil {
		fail(err.Error())
	}
	srv := &http.Server{Handler: mux}
	go func() {
		io.Copy(io.Discard, os.Stdin)
		srv.Close()
	}()
	fmt.Println("listening")
	if err := srv.ServeTLS(ln, cert, key); err != http.ErrServerClosed {
		fail(err.Error())
	}
}
