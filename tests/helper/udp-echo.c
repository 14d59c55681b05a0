/* udp-echo PORT: answer every UDP datagram to PORT (IPv4, any address) with the same bytes,
 * prefixed with "echo:". A test program for containers: busybox as Debian builds it has no
 * UDP server (its nc lacks -u), so tests/cli/071-ports.bats builds this statically and
 * copies it into the image. */
#include <arpa/inet.h>
#include <netinet/in.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

int main(int argc, char **argv)
{
	if (argc != 2) {
		fprintf(stderr, "usage: udp-echo PORT\n");
		return 2;
	}
	int fd = socket(AF_INET, SOCK_DGRAM, 0);
	struct sockaddr_in sa = {.sin_family = AF_INET, .sin_port = htons((uint16_t)atoi(argv[1]))};
	if (fd < 0 || bind(fd, (struct sockaddr *)&sa, sizeof(sa)) < 0) {
		perror("udp-echo");
		return 1;
	}
	for (;;) {
		char buf[2048] = "echo:";
		struct sockaddr_storage from;
		socklen_t fl = sizeof(from);
		ssize_t n =
		    recvfrom(fd, buf + 5, sizeof(buf) - 5, 0, (struct sockaddr *)&from, &fl);
		if (n < 0)
			continue;
		sendto(fd, buf, (size_t)n + 5, 0, (struct sockaddr *)&from, fl);
	}
}
