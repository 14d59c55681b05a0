/* http-ok PORT: answer every HTTP request on PORT with a small fixed page, keeping the
 * connection open (HTTP/1.1 keep-alive), one process per connection. A server whose own
 * cost is small, so that bench/net.sh measures the path to it (DNAT, proxies) rather than
 * the server: busybox httpd closes every connection and forks for each.
 * GET /zero/N answers N zero bytes instead (bench/net.sh's bulk transfer). */
#include <netinet/in.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#define BODY "<h1>Welcome to nginx!</h1>\n"
/* 27: the length of BODY, checked below. */
static const char reply[] = "HTTP/1.1 200 OK\r\nContent-Type: text/html\r\nContent-Length: 27\r\n"
			    "\r\n" BODY;
_Static_assert(sizeof(BODY) - 1 == 27, "Content-Length must match the body");

/* GET /zero/N: N zero bytes from one static buffer. 0 when done, -1 when the client left. */
static int send_zeros(int c, unsigned long long n)
{
	static const char zero[1 << 16];
	char head[128];
	int h = snprintf(head, sizeof(head),
			 "HTTP/1.1 200 OK\r\nContent-Type: application/octet-stream\r\n"
			 "Content-Length: %llu\r\n\r\n",
			 n);
	if (write(c, head, (size_t)h) != h)
		return -1;
	while (n) {
		size_t chunk = n < sizeof(zero) ? (size_t)n : sizeof(zero);
		ssize_t w = write(c, zero, chunk);
		if (w <= 0)
			return -1;
		n -= (unsigned long long)w;
	}
	return 0;
}

static void serve(int c)
{
	char buf[8192];
	size_t len = 0;
	for (;;) {
		ssize_t n = read(c, buf + len, sizeof(buf) - len);
		if (n <= 0)
			return;
		len += (size_t)n;
		char *end;
		/* Every complete request gets the page; a partial one waits for more. */
		while ((end = memmem(buf, len, "\r\n\r\n", 4))) {
			if (len > 10 && memcmp(buf, "GET /zero/", 10) == 0) {
				if (send_zeros(c, strtoull(buf + 10, NULL, 10)) < 0)
					return;
			} else if (write(c, reply, sizeof(reply) - 1) != (ssize_t)sizeof(reply) - 1)
				return;
			size_t used = (size_t)(end - buf) + 4;
			memmove(buf, buf + used, len - used);
			len -= used;
		}
		if (len == sizeof(buf))
			return;
	}
}

int main(int argc, char **argv)
{
	if (argc != 2) {
		fprintf(stderr, "usage: http-ok PORT\n");
		return 2;
	}
	signal(SIGCHLD, SIG_IGN);
	int one = 1, fd = socket(AF_INET, SOCK_STREAM, 0);
	struct sockaddr_in sa = {.sin_family = AF_INET, .sin_port = htons((uint16_t)atoi(argv[1]))};
	setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof(one));
	if (fd < 0 || bind(fd, (struct sockaddr *)&sa, sizeof(sa)) < 0 || listen(fd, 512) < 0) {
		perror("http-ok");
		return 1;
	}
	for (;;) {
		int c = accept(fd, NULL, NULL);
		if (c < 0)
			continue;
		if (fork() == 0) {
			close(fd);
			serve(c);
			_exit(0);
		}
		close(c);
	}
}
