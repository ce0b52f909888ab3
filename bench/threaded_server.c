/* A multi-threaded plaintext HTTP server for bench/cores.sh: N threads each
 * block in accept() on one listening socket (the classic pre-threaded
 * server), read a request up to its blank line, answer it and close.
 *
 *   threaded_server PORT THREADS [BULK_BYTES]
 *
 * Without BULK_BYTES the answer is a short page (handshake-bound load); with
 * it, the answer carries BULK_BYTES of body (throughput-bound load). Threads
 * are named "worker" so that the script can tell them from the shim's helper
 * in /proc/PID/task/.../comm. Plaintext only: TLS comes from the shim. */
#ifndef _GNU_SOURCE
#define _GNU_SOURCE /* pthread_setname_np (the Makefile defines it too) */
#endif
#include <arpa/inet.h>
#include <errno.h>
#include <netinet/in.h>
#include <pthread.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

static int listen_fd;
static unsigned long long bulk_bytes;

static void answer(int fd)
{
    char req[4096];
    size_t have = 0;
    /* up to the request's blank line; a client that sends nothing is answered at EOF */
    while (have < sizeof req - 1) {
        ssize_t n = read(fd, req + have, sizeof req - 1 - have);
        if (n <= 0)
            break;
        have += (size_t)n;
        req[have] = 0;
        if (strstr(req, "\r\n\r\n") || strstr(req, "\n\n"))
            break;
    }
    char head[256];
    static const char page[] = "hello from a threaded server\n";
    unsigned long long body = bulk_bytes ? bulk_bytes : sizeof page - 1;
    int hl = snprintf(head, sizeof head,
                      "HTTP/1.0 200 OK\r\nContent-Type: application/octet-stream\r\n"
                      "Content-Length: %llu\r\nConnection: close\r\n\r\n",
                      body);
    if (write(fd, head, (size_t)hl) != hl)
        return;
    if (!bulk_bytes) {
        ssize_t w = write(fd, page, sizeof page - 1);
        (void)w;
        return;
    }
    static char chunk[64 * 1024];
    while (body > 0) {
        size_t n = body < sizeof chunk ? (size_t)body : sizeof chunk;
        ssize_t w = write(fd, chunk, n);
        if (w <= 0)
            return;
        body -= (unsigned long long)w;
    }
}

static void *worker(void *arg)
{
    (void)arg;
    pthread_setname_np(pthread_self(), "worker");
    for (;;) {
        int fd = accept(listen_fd, NULL, NULL);
        if (fd < 0) {
            if (errno == EINTR || errno == ECONNABORTED || errno == EMFILE)
                continue;
            perror("accept");
            return NULL;
        }
        answer(fd);
        close(fd);
    }
}

int main(int argc, char **argv)
{
    if (argc < 3) {
        fprintf(stderr, "usage: %s PORT THREADS [BULK_BYTES]\n", argv[0]);
        return 2;
    }
    int port = atoi(argv[1]), threads = atoi(argv[2]);
    if (argc > 3)
        bulk_bytes = strtoull(argv[3], NULL, 10);
    if (port <= 0 || port > 65535 || threads <= 0 || threads > 256) {
        fprintf(stderr, "%s: bad PORT or THREADS\n", argv[0]);
        return 2;
    }
    signal(SIGPIPE, SIG_IGN);
    listen_fd = socket(AF_INET, SOCK_STREAM, 0);
    int one = 1;
    setsockopt(listen_fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof one);
    struct sockaddr_in a = {.sin_family = AF_INET, .sin_port = htons((uint16_t)port)};
    a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    if (bind(listen_fd, (struct sockaddr *)&a, sizeof a) < 0 || listen(listen_fd, 1024) < 0) {
        perror("bind/listen");
        return 1;
    }
    pthread_t t[256];
    for (int i = 0; i < threads; i++)
        pthread_create(&t[i], NULL, worker, NULL);
    pthread_join(t[0], NULL);
    return 1;
}
