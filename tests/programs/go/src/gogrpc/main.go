// gogrpc: a Go gRPC client over TLS (crypto/tls) for flowtap's TLS tests, built
// in GOPATH mode against Debian's golang-google-grpc-dev. It needs no generated
// stubs: messages go as raw bytes through a codec that passes them on.
//
//	gogrpc ADDR CA_FILE  says "ready", waits for a line on stdin, then calls
//	                     demo.Echo/Say("world") and demo.Echo/Get("missing")
//	                     (answered NOT_FOUND) on one connection; prints what it got
package main

import (
	"bufio"
	"context"
	"encoding/json"
	"fmt"
	"os"
	"time"

	"google.golang.org/grpc"
	"google.golang.org/grpc/credentials"
	"google.golang.org/grpc/status"
)

// raw sends and receives messages as the bytes they are.
type raw struct{}

func (raw) Marshal(v interface{}) ([]byte, error) { return *(v.(*[]byte)), nil }
func (raw) Unmarshal(data []byte, v interface{}) error {
	*(v.(*[]byte)) = append([]byte(nil), data...)
	return nil
}
func (raw) Name() string { return "proto" }

func main() {
	creds, err := credentials.NewClientTLSFromFile(os.Args[2], "localhost")
	if err != nil {
		fail(err)
	}
	// Dialled after the go-ahead: the connection is new to the capture.
	fmt.Println("ready")
	bufio.NewReader(os.Stdin).ReadString('\n')
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	conn, err := grpc.DialContext(ctx, os.Args[1], grpc.WithTransportCredentials(creds), grpc.WithBlock())
	if err != nil {
		fail(err)
	}
	defer conn.Close()
	said := map[string]interface{}{}
	req, reply := []byte("world"), []byte(nil)
	if err := conn.Invoke(ctx, "/demo.Echo/Say", &req, &reply, grpc.ForceCodec(raw{})); err != nil {
		fail(err)
	}
	said["say"] = string(reply)
	key := []byte("missing")
	err = conn.Invoke(ctx, "/demo.Echo/Get", &key, &reply, grpc.ForceCodec(raw{}))
	said["get_status"] = status.Code(err).String()
	out, _ := json.Marshal(said)
	fmt.Println(string(out))
}

func fail(err error) {
	fmt.Fprintln(os.Stderr, "gogrpc:", err)
	os.Exit(1)
}
