// Command h2c is an HTTP/2 cleartext server and client for flowtap's tests,
// built in GOPATH mode against Debian's golang-golang-x-net-dev.
//
//	h2c serve PORT      serves h2c (prior knowledge and Upgrade: h2c) until stdin closes
//	h2c get URL...      fetches each URL over one prior-knowledge connection
package main

import (
	"context"
	"crypto/tls"
	"encoding/json"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"strings"

	"golang.org/x/net/http2"
	"golang.org/x/net/http2/h2c"
)

func serve(port string) {
	handler := http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		body, _ := io.ReadAll(r.Body)
		w.Header().Set("Content-Type", "text/plain")
		if r.URL.Path == "/missing" {
			w.WriteHeader(http.StatusNotFound)
		}
		fmt.Fprintf(w, "go saw %s %s %s %s", r.Proto, r.Method, r.URL.Path, body)
	})
	ln, err := net.Listen("tcp", "127.0.0.1:"+port)
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(1)
	}
	srv := &http.Server{Handler: h2c.NewHandler(handler, &http2.Server{})}
	go func() {
		_, _ = io.ReadAll(os.Stdin)
		srv.Close()
	}()
	fmt.Println("ready")
	_ = srv.Serve(ln)
}

func get(urls []string) {
	client := &http.Client{Transport: &http2.Transport{
		AllowHTTP: true,
		DialTLSContext: func(ctx context.Context, network, addr string, _ *tls.Config) (net.Conn, error) {
			var d net.Dialer
			return d.DialContext(ctx, network, addr)
		},
	}}
	var out [][]interface{}
	for i, u := range urls {
		var resp *http.Response
		var err error
		if i == len(urls)-1 {
			resp, err = client.Post(u, "text/plain", strings.NewReader("posted by go"))
		} else {
			resp, err = client.Get(u)
		}
		if err != nil {
			fmt.Fprintln(os.Stderr, err)
			os.Exit(1)
		}
		body, _ := io.ReadAll(resp.Body)
		resp.Body.Close()
		out = append(out, []interface{}{resp.StatusCode, string(body)})
	}
	_ = json.NewEncoder(os.Stdout).Encode(out)
}

func main() {
	if len(os.Args) < 3 {
		fmt.Fprintln(os.Stderr, "usage: h2c serve PORT | h2c get URL...")
		os.Exit(2)
	}
	switch os.Args[1] {
	case "serve":
		serve(os.Args[2])
	case "get":
		get(os.Args[2:])
	}
}
