/* The plaintext counterpart of `openssl s_time -new` for bench/cores.sh:
 * CLIENTS threads, each opening a new TCP connection per request (GET /,
 * read to EOF, close) for SECONDS; prints "N connections in S s". It runs
 * with no shim, so it measures what the server program costs without TLS.
 *
 *   http_hammer PORT CLIENTS SECONDS */
#ifndef _GNU_SOURCE
#define _GNU_SOURCE /* pthread_setname_np (the Makefile defines it too) */
#endif
#include <arpa/inet.h>
#include <netinet/in.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

static int port, seconds;
static double t_end;

static double now(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

static void *client(void *arg)
{
    unsigned long *done = arg;
    static const char req[] = "GET / HTTP/1.0\r\n\r\n";
    struct sockaddr_in a = {.sin_family = AF_INET, .sin_port = htons((uint16_t)port)};
    a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    char buf[4096];
    while (now() < t_end) {
        int fd = socket(AF_INET, SOCK_STREAM, 0);
        if (fd < 0 || connect(fd, (struct sockaddr *)&a, sizeof a) < 0) {
            if (fd >= 0)
                close(fd);
            continue;
        }
        if (write(fd, req, sizeof req - 1) == (ssize_t)(sizeof req - 1)) {
            ssize_t n, got = 0;
            while ((n = read(fd, buf, sizeof buf)) > 0)
                got += n;
            if (got > 0)
                (*done)++;
        }
        close(fd);
    }
    return NULL;
}

int main(int argc, char **argv)
{
    if (argc != 4) {
        fprintf(stderr, "usage: %s PORT CLIENTS SECONDS\n", argv[0]);
        return 2;
    }
    port = atoi(argv[1]);
    int clients = atoi(argv[2]);
    seconds = atoi(argv[3]);
    if (port <= 0 || port > 65535 || clients <= 0 || clients > 64 || seconds <= 0) {
        fprintf(stderr, "%s: bad arguments\n", argv[0]);
        return 2;
    }
    pthread_t t[64];
    unsigned long done[64] = {0};
    double t0 = now();
    t_end = t0 + seconds;
    for (int i = 0; i < clients; i++)
        pthread_create(&t[i], NULL, client, &done[i]);
    unsigned long total = 0;
    for (int i = 0; i < clients; i++) {
        pthread_join(t[i], NULL);
        total += done[i];
    }
    printf("%lu connections in %.2f s\n", total, now() - t0);
    return 0;
}
