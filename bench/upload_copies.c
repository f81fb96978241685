// What an upload over loopback costs each side, by how the sender gets file data to the socket
// (bench/README.md, "Zero-copy upload, measured"). Not part of the build or the tests:
//
//   gcc -O2 -o /tmp/upload_copies bench/upload_copies.c
//   head -c 268435456 /dev/urandom > /tmp/data.bin && cat /tmp/data.bin > /dev/null
//   /tmp/upload_copies MODE /tmp/data.bin 1073741824     # MODE 0, 1, 3 or 5
//
// The sender sends TOTAL bytes of the (page-cached) file in runs of 256 KiB, each as 16 blocks
// of 16 KiB with a 13-byte header before each, as a BitTorrent seeder does:
//   0: pread the run into a buffer, writev headers and blocks (our buffered upload)
//   1: per block, send the header with MSG_MORE, then sendfile the block
//   3: splice the run from the file into a pipe, then per block the header with MSG_MORE and a
//      splice from the pipe (the zero-copy upload tried in session 19)
//   5: writev headers and blocks from a buffer already in memory (no file read at all)
// The receiver (a child process) reads 64 KiB at a time from a non-blocking socket, waiting in
// epoll (one-shot, re-armed per wait) as an async runtime does. Prints each side's CPU-s per
// GiB (getrusage). LOWAT=N sets TCP_NOTSENT_LOWAT on the sender's socket.
#define _GNU_SOURCE
#include <fcntl.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/resource.h>
#include <sys/sendfile.h>
#include <sys/socket.h>
#include <sys/uio.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#define RUN (1 << 18)
#define BLOCK 16384

static double cpu(int who) {
  struct rusage r;
  getrusage(who, &r);
  return r.ru_utime.tv_sec + r.ru_utime.tv_usec / 1e6 + r.ru_stime.tv_sec + r.ru_stime.tv_usec / 1e6;
}

static void receive(struct sockaddr_in *a) {
  int s = socket(AF_INET, SOCK_STREAM, 0);
  if (connect(s, (void *)a, sizeof *a)) exit(1);
  fcntl(s, F_SETFL, O_NONBLOCK);
  int ep = epoll_create1(0);
  struct epoll_event ev = {.events = EPOLLIN | EPOLLONESHOT, .data.fd = s}, got;
  epoll_ctl(ep, EPOLL_CTL_ADD, s, &ev);
  char *b = malloc(1 << 16);
  for (;;) {
    ssize_t r = recv(s, b, 1 << 16, 0);
    if (r == 0) break;
    if (r < 0) {
      epoll_ctl(ep, EPOLL_CTL_MOD, s, &ev);
      epoll_wait(ep, &got, 1, -1);
    }
  }
  _exit(0);
}

static void writev_all(int s, struct iovec *iov, int n) {
  int i = 0;
  while (i < n) {
    ssize_t w = writev(s, iov + i, n - i);
    if (w < 0) exit(1);
    while (i < n && w >= (ssize_t)iov[i].iov_len) w -= iov[i++].iov_len;
    if (i < n) iov[i].iov_base = (char *)iov[i].iov_base + w, iov[i].iov_len -= w;
  }
}

int main(int argc, char **argv) {
  if (argc < 4) return 2;
  int mode = atoi(argv[1]);
  long total = atol(argv[3]);
  int ls = socket(AF_INET, SOCK_STREAM, 0);
  struct sockaddr_in a = {.sin_family = AF_INET, .sin_addr.s_addr = htonl(0x7f000001)};
  socklen_t al = sizeof a;
  bind(ls, (void *)&a, sizeof a);
  listen(ls, 1);
  getsockname(ls, (void *)&a, &al);
  pid_t child = fork();
  if (child == 0) receive(&a);
  int s = accept(ls, 0, 0);
  if (getenv("LOWAT")) {
    int v = atoi(getenv("LOWAT"));
    setsockopt(s, IPPROTO_TCP, TCP_NOTSENT_LOWAT, &v, sizeof v);
  }
  int fd = open(argv[2], O_RDONLY);
  long size = lseek(fd, 0, SEEK_END);
  char *buf = calloc(1, RUN), hdr[13] = {0};
  int p[2];
  if (pipe(p) || fcntl(p[1], F_SETPIPE_SZ, 2 * RUN) < 0) return 1;
  double c0 = cpu(RUSAGE_SELF);
  for (long sent = 0; sent < total; sent += RUN) {
    off_t off = sent % size;
    if (mode == 0 || mode == 5) {
      if (mode == 0 && pread(fd, buf, RUN, off) != RUN) return 1;
      struct iovec iov[32];
      for (int i = 0; i < 16; i++) {
        iov[2 * i] = (struct iovec){hdr, 13};
        iov[2 * i + 1] = (struct iovec){buf + i * BLOCK, BLOCK};
      }
      writev_all(s, iov, 32);
    } else if (mode == 1) {
      for (int i = 0; i < 16; i++) {
        send(s, hdr, 13, MSG_MORE);
        off_t o = off + i * BLOCK;
        for (long left = BLOCK; left > 0;) left -= sendfile(s, fd, &o, left);
      }
    } else if (mode == 3) {
      loff_t o = off;
      for (long left = RUN; left > 0;) left -= splice(fd, &o, p[1], 0, left, 0);
      for (int i = 0; i < 16; i++) {
        send(s, hdr, 13, MSG_MORE);
        for (long left = BLOCK; left > 0;) left -= splice(p[0], 0, s, 0, left, SPLICE_F_MORE);
      }
    } else {
      return 2;
    }
  }
  double sender = cpu(RUSAGE_SELF) - c0;
  shutdown(s, SHUT_WR);
  int status;
  waitpid(child, &status, 0);
  double gib = total / 1073741824.0;
  printf("mode %d: sender %.3f CPU-s/GiB, receiver %.3f CPU-s/GiB\n", mode, sender / gib,
         cpu(RUSAGE_CHILDREN) / gib);
  return 0;
}
