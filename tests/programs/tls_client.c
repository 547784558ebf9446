/*
 * A TLS client for flowtap's tests on the OpenSSL API. Built two ways: with
 * -static against libssl.a/libcrypto.a, so that OpenSSL lives inside the
 * executable and no libssl.so is mapped; and against Debian's BoringSSL
 * (libssl.so.0 under /usr/lib/<arch>/android), which has no _ex calls.
 * Usage: tls_client PORT CAFILE
 * On one connection to 127.0.0.1:PORT (SNI localhost) it sends GET /hello with
 * SSL_write and GET /missing with SSL_write_ex, reads each response (with
 * SSL_read, then SSL_read_ex) by its Content-Length, and prints the bodies.
 * It first waits for a line on stdin, so that it can be running before capture.
 */
#define _GNU_SOURCE
#include <arpa/inet.h>
#include <netinet/in.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include <openssl/err.h>
#include <openssl/ssl.h>

static void die(const char *what)
{
	fprintf(stderr, "tls_client: %s\n", what);
	ERR_print_errors_fp(stderr);
	exit(1);
}

/* Reads one response (headers, then Content-Length bytes) and prints its body. */
static void response(SSL *ssl, int ex)
{
	char buf[16384];
	size_t have = 0;
	for (;;) {
		if (have == sizeof(buf) - 1)
			die("response too long");
		size_t got = 0;
		if (ex) {
#ifdef OPENSSL_IS_BORINGSSL
			int n = SSL_read(ssl, buf + have, (int)(sizeof(buf) - 1 - have));
			if (n <= 0)
				die("SSL_read");
			got = (size_t)n;
#else
			if (SSL_read_ex(ssl, buf + have, sizeof(buf) - 1 - have, &got) != 1)
				die("SSL_read_ex");
#endif
		} else {
			int n = SSL_read(ssl, buf + have, (int)(sizeof(buf) - 1 - have));
			if (n <= 0)
				die("SSL_read");
			got = (size_t)n;
		}
		have += got;
		buf[have] = 0;
		char *end = strstr(buf, "\r\n\r\n");
		if (!end)
			continue;
		char *cl = strcasestr(buf, "\r\nContent-Length:");
		if (!cl || cl > end)
			die("no Content-Length");
		size_t len = strtoul(cl + 17, NULL, 10);
		size_t head = (size_t)(end + 4 - buf);
		if (have - head < len)
			continue;
		fwrite(end + 4, 1, len, stdout);
		return;
	}
}

int main(int argc, char **argv)
{
	if (argc != 3)
		die("usage: tls_client PORT CAFILE");
	char line[16];
	if (!fgets(line, sizeof(line), stdin))
		die("no go on stdin");
	SSL_CTX *ctx = SSL_CTX_new(TLS_client_method());
	if (!ctx || SSL_CTX_load_verify_locations(ctx, argv[2], NULL) != 1)
		die("CA file");
	SSL_CTX_set_verify(ctx, SSL_VERIFY_PEER, NULL);
	int fd = socket(AF_INET, SOCK_STREAM, 0);
	struct sockaddr_in addr = {.sin_family = AF_INET, .sin_port = htons(atoi(argv[1]))};
	inet_pton(AF_INET, "127.0.0.1", &addr.sin_addr);
	if (fd < 0 || connect(fd, (struct sockaddr *)&addr, sizeof(addr)))
		die("connect");
	SSL *ssl = SSL_new(ctx);
	SSL_set_fd(ssl, fd);
	SSL_set_tlsext_host_name(ssl, "localhost");
	SSL_set1_host(ssl, "localhost");
	if (SSL_connect(ssl) != 1)
		die("handshake");
	const char *hello = "GET /hello HTTP/1.1\r\nHost: localhost\r\nUser-Agent: tls_client\r\n\r\n";
	if (SSL_write(ssl, hello, (int)strlen(hello)) <= 0)
		die("SSL_write");
	response(ssl, 0);
	const char *missing = "GET /missing HTTP/1.1\r\nHost: localhost\r\nUser-Agent: tls_client\r\n\r\n";
#ifdef OPENSSL_IS_BORINGSSL
	if (SSL_write(ssl, missing, (int)strlen(missing)) <= 0)
		die("SSL_write");
#else
	size_t written = 0;
	if (SSL_write_ex(ssl, missing, strlen(missing), &written) != 1)
		die("SSL_write_ex");
#endif
	response(ssl, 1);
	SSL_shutdown(ssl);
	SSL_free(ssl);
	close(fd);
	SSL_CTX_free(ctx);
	return 0;
}
