// firstuse: 64 TCP connections made before capture; on each, two threads then make
// their first syscalls on it at the same moment, so a capture attached in between
// sees each socket first from two CPUs at once (tests/it/truth.rs).
//
// Speaks the harness protocol: prints "waiting", waits for a line on stdin, then
// prints one JSON object. Built in GOPATH mode with the standard library only.
//
// `firstuse files DIR ADDR` serves DIR with http.FileServer (which sends bodies
// with write and then sendfile). `firstuse uring` sets up an io_uring instance and
// closes it. `firstuse mmsg ADDR` sends a request head as two messages of one
// sendmmsg and reads the reply with recvmmsg. `firstuse cat FILE` instead prints FILE: a static program, so after an exec
// nothing closes fd 3 before the Go runtime reads a file of its own through it.
package main

import (
	"bufio"
	"encoding/json"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"runtime"
	"sync"
	"sync/atomic"
	"syscall"
	"unsafe"
)

const conns = 64

func main() {
	if len(os.Args) == 4 && os.Args[1] == "files" {
		panic(http.ListenAndServe(os.Args[3], http.FileServer(http.Dir(os.Args[2]))))
	}
	if len(os.Args) == 3 && os.Args[1] == "mmsg" {
		mmsg(os.Args[2])
		return
	}
	if len(os.Args) == 2 && os.Args[1] == "uring" {
		var params [120]byte // struct io_uring_params
		fd, _, errno := syscall.Syscall(425, 4, uintptr(unsafe.Pointer(&params)), 0)
		if errno != 0 {
			panic(errno)
		}
		syscall.Close(int(fd))
		return
	}
	if len(os.Args) == 3 && os.Args[1] == "cat" {
		data, err := os.ReadFile(os.Args[2])
		if err != nil {
			panic(err)
		}
		os.Stdout.Write(data)
		return
	}
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		panic(err)
	}
	var served sync.WaitGroup
	served.Add(conns)
	go func() {
		for i := 0; i < conns; i++ {
			c, err := ln.Accept()
			if err != nil {
				panic(err)
			}
			go func() {
				defer served.Done()
				io.Copy(io.Discard, c)
				c.Close()
			}()
		}
	}()
	var clients []*net.TCPConn
	for i := 0; i < conns; i++ {
		c, err := net.Dial("tcp", ln.Addr().String())
		if err != nil {
			panic(err)
		}
		clients = append(clients, c.(*net.TCPConn))
	}
	fmt.Println("waiting")
	bufio.NewReader(os.Stdin).ReadString('\n')

	msg := []byte("first-use-payload|")
	var fds []int
	for _, c := range clients {
		raw, err := c.SyscallConn()
		if err != nil {
			panic(err)
		}
		var start int32
		var both sync.WaitGroup
		both.Add(2)
		for k := 0; k < 2; k++ {
			go func() {
				defer both.Done()
				runtime.LockOSThread()
				defer runtime.UnlockOSThread()
				atomic.AddInt32(&start, 1)
				for atomic.LoadInt32(&start) < 2 {
				}
				// Control holds no read/write lock: both writes run at once.
				raw.Control(func(fd uintptr) {
					syscall.Write(int(fd), msg)
				})
			}()
		}
		both.Wait()
		raw.Control(func(fd uintptr) { fds = append(fds, int(fd)) })
	}
	for _, c := range clients {
		c.Close()
	}
	served.Wait()
	out, _ := json.Marshal(map[string]interface{}{
		"harness_pid": os.Getpid(),
		"fds":         fds,
		"sent_each":   2 * len(msg),
	})
	fmt.Println(string(out))
}

// mmsghdr as the kernel lays it out on 64-bit Linux.
type mmsghdr struct {
	hdr syscall.Msghdr
	len uint32
	_   [4]byte
}

func mmsg(addr string) {
	c, err := net.Dial("tcp", addr)
	if err != nil {
		panic(err)
	}
	f, err := c.(*net.TCPConn).File() // a blocking dup of the socket
	if err != nil {
		panic(err)
	}
	fd := f.Fd()
	parts := [][]byte{[]byte("GET /mmsg HTTP/1.1\r\nHost: x\r\n"), []byte("\r\n")}
	var msgs [2]mmsghdr
	var iovs [2]syscall.Iovec
	for i, p := range parts {
		iovs[i].Base = &p[0]
		iovs[i].SetLen(len(p))
		msgs[i].hdr.Iov = &iovs[i]
		msgs[i].hdr.Iovlen = 1
	}
	n, _, errno := syscall.Syscall6(307 /* SYS_sendmmsg, amd64 */, fd, uintptr(unsafe.Pointer(&msgs[0])), 2, 0, 0, 0)
	if errno != 0 || n != 2 {
		panic(fmt.Sprint("sendmmsg ", n, errno))
	}
	want := "HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nok"
	got := ""
	for len(got) < len(want) {
		buf := make([]byte, 4096)
		iov := syscall.Iovec{Base: &buf[0]}
		iov.SetLen(len(buf))
		var r [1]mmsghdr
		r[0].hdr.Iov = &iov
		r[0].hdr.Iovlen = 1
		n, _, errno := syscall.Syscall6(syscall.SYS_RECVMMSG, fd, uintptr(unsafe.Pointer(&r[0])), 1, 0, 0, 0)
		if errno != 0 || n != 1 {
			panic(fmt.Sprint("recvmmsg ", n, errno))
		}
		got += string(buf[:r[0].len])
	}
	if got != want {
		panic(got)
	}
	f.Close()
	c.Close()
}
