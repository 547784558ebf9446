/* Two threads writing one TCP socket hard, for flowtap's reorder test.
 *
 * Usage: two_writers ROUNDS SIZE OUT_FILE [blocking]
 * Prints "waiting", blocks until a line arrives on stdin (so the test can start
 * flowtap capture --pid on it first), then connects to a loopback server in this
 * same process; two threads each write() ROUNDS records of SIZE bytes on the one
 * socket, concurrently, non-blocking. The server thread reads everything until EOF into
 * OUT_FILE. Prints one JSON object: the ports and the bytes received.
 *
 * With "blocking", the writes block, on a small send buffer: a write waiting for
 * space lets the other thread's bytes into the middle of its own. */
#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <poll.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

static int listener, client, rounds, size, blocking;
static const char *out_path;
static long received;
static pthread_barrier_t start;

static void *serve(void *arg) {
	(void)arg;
	int conn = accept(listener, NULL, NULL);
	FILE *out = fopen(out_path, "wb");
	char buf[65536];
	ssize_t n;
	if (conn < 0 || !out)
		exit(2);
	while ((n = read(conn, buf, sizeof buf)) > 0) {
		fwrite(buf, 1, (size_t)n, out);
		received += n;
	}
	fclose(out);
	close(conn);
	return NULL;
}

static void *writer(void *arg) {
	char tag = *(const char *)arg;
	char *rec = malloc((size_t)size);
	if (!rec)
		exit(2);
	pthread_barrier_wait(&start);
	for (int i = 0; i < rounds; i++) {
		memset(rec, tag, (size_t)size);
		int head = snprintf(rec, (size_t)size, "[%c:%07d]", tag, i);
		rec[head] = tag;
		for (ssize_t done = 0; done < size;) {
			/* Non-blocking: each write's bytes are one run of the stream (the
			 * other thread's may come between two writes of one record).
			 * Blocking: a write that waits for buffer space lets the other
			 * thread's bytes into the middle of its own, which no byte
			 * position per syscall can describe. */
			ssize_t n = write(client, rec + done, (size_t)(size - done));
			if (n < 0 && errno == EAGAIN && !blocking) {
				struct pollfd p = {.fd = client, .events = POLLOUT};
				poll(&p, 1, -1);
				continue;
			}
			if (n <= 0)
				exit(3);
			done += n;
		}
	}
	free(rec);
	return NULL;
}

int main(int argc, char **argv) {
	if (argc != 4 && argc != 5)
		return 1;
	blocking = argc == 5 && !strcmp(argv[4], "blocking");
	rounds = atoi(argv[1]);
	size = atoi(argv[2]);
	out_path = argv[3];
	struct sockaddr_in addr = {.sin_family = AF_INET};
	socklen_t len = sizeof addr;
	addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
	listener = socket(AF_INET, SOCK_STREAM, 0);
	if (bind(listener, (struct sockaddr *)&addr, sizeof addr) || listen(listener, 1) ||
	    getsockname(listener, (struct sockaddr *)&addr, &len))
		return 2;
	printf("waiting\n");
	fflush(stdout);
	char line[16];
	if (!fgets(line, sizeof line, stdin))
		return 1;

	pthread_t server, writers[2];
	pthread_create(&server, NULL, serve, NULL);
	client = socket(AF_INET, SOCK_STREAM, 0);
	int sndbuf = 16384;
	if (blocking && setsockopt(client, SOL_SOCKET, SO_SNDBUF, &sndbuf, sizeof sndbuf))
		return 2;
	if (connect(client, (struct sockaddr *)&addr, sizeof addr))
		return 2;
	struct sockaddr_in local;
	len = sizeof local;
	getsockname(client, (struct sockaddr *)&local, &len);
	if (!blocking)
		fcntl(client, F_SETFL, fcntl(client, F_GETFL) | O_NONBLOCK);
	pthread_barrier_init(&start, NULL, 2);
	pthread_create(&writers[0], NULL, writer, "a");
	pthread_create(&writers[1], NULL, writer, "b");
	pthread_join(writers[0], NULL);
	pthread_join(writers[1], NULL);
	shutdown(client, SHUT_WR);
	pthread_join(server, NULL);
	close(client);
	printf("{\"client_port\": %d, \"server_port\": %d, \"received\": %ld}\n", ntohs(local.sin_port),
	       ntohs(addr.sin_port), received);
	fflush(stdout);
	return 0;
}
