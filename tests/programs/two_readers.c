/* Two threads reading one TCP socket at once, for flowtap's placement test.
 *
 * Usage: two_readers BYTES OUT_FILE
 * Prints "waiting", blocks until a line arrives on stdin (so the test can start
 * flowtap capture --pid on it first), then connects to a loopback server in this
 * same process and writes BYTES bytes of a pattern, which it also writes to
 * OUT_FILE: the stream. On the server's end two threads read the one accepted
 * socket concurrently, in small reads, until EOF, so which of them got which
 * bytes is up to the kernel. Prints one JSON object: the ports and the bytes
 * the two readers got. */
#include <arpa/inet.h>
#include <netinet/in.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <sys/socket.h>
#include <unistd.h>

static int listener, conn;
static long received[2];

static void *reader(void *arg) {
	long *got = arg;
	char buf[1500];
	ssize_t n;
	while ((n = read(conn, buf, sizeof buf)) > 0)
		*got += n;
	return NULL;
}

int main(int argc, char **argv) {
	if (argc != 3)
		return 1;
	long bytes = atol(argv[1]);
	FILE *out = fopen(argv[2], "wb");
	if (!out)
		return 2;
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

	int client = socket(AF_INET, SOCK_STREAM, 0);
	if (connect(client, (struct sockaddr *)&addr, sizeof addr))
		return 2;
	conn = accept(listener, NULL, NULL);
	if (conn < 0)
		return 2;
	struct sockaddr_in local;
	len = sizeof local;
	getsockname(client, (struct sockaddr *)&local, &len);
	pthread_t readers[2];
	pthread_create(&readers[0], NULL, reader, &received[0]);
	pthread_create(&readers[1], NULL, reader, &received[1]);

	/* Every byte tells its position apart from its neighbours'. */
	static char chunk[8192];
	for (long done = 0; done < bytes;) {
		long n = bytes - done < (long)sizeof chunk ? bytes - done : (long)sizeof chunk;
		for (long i = 0; i < n; i++) {
			unsigned long p = (unsigned long)(done + i);
			chunk[i] = (char)('!' + (p * 2654435761UL >> 7) % 90);
		}
		for (long off = 0; off < n;) {
			ssize_t w = write(client, chunk + off, (size_t)(n - off));
			if (w <= 0)
				return 3;
			off += w;
		}
		fwrite(chunk, 1, (size_t)n, out);
		done += n;
	}
	fclose(out);
	shutdown(client, SHUT_WR);
	pthread_join(readers[0], NULL);
	pthread_join(readers[1], NULL);
	close(conn);
	close(client);
	printf("{\"client_port\": %d, \"server_port\": %d, \"received\": %ld, \"by_reader\": [%ld, %ld]}\n",
	       ntohs(local.sin_port), ntohs(addr.sin_port), received[0] + received[1], received[0],
	       received[1]);
	fflush(stdout);
	return 0;
}
