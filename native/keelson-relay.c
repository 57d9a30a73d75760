/*
 * keelson-relay: copies bytes between pairs of connected TCP sockets for keelson's userspace
 * service proxy, so that a long-lived proxied connection costs what it costs HAProxy instead of
 * Node.js's per-read and per-write overhead.
 *
 * The Node.js side (controllers/service-proxy/native-relay.ts) keeps every decision: it accepts
 * the client, chooses and dials the endpoint (retries, affinity), and tracks the connection for
 * draining. Once a connection has carried a few exchanges it hands both sockets over with
 * `child.send(message, socket)`. This program is that child: it speaks the receiving half of
 * Node.js's IPC channel (newline-delimited JSON on the socket in NODE_CHANNEL_FD, a handle
 * travelling as SCM_RIGHTS with a {"cmd":"NODE_HANDLE",...} message, acknowledged with
 * {"cmd":"NODE_HANDLE_ACK"}).
 *
 * Messages from Node.js (one per line):
 *   {"cmd":"NODE_HANDLE","type":"net.Socket","msg":{"relay":N,"side":S}}  + one socket
 *       S = 0: the client's socket, S = 1: the endpoint's. Relay N starts once it has both.
 *   {"close":N}   reset both sockets of relay N now (a drain grace period ended, the proxy stops).
 * Messages to Node.js:
 *   {"cmd":"NODE_HANDLE_ACK"} / {"cmd":"NODE_HANDLE_NACK"}   (the handle protocol)
 *   {"got":N,"side":S}      the socket arrived: Node.js (which sends with keepOpen) closes its copy
 *   {"ended":N,"reset":R}   relay N is over, both sockets closed: R = 0 cleanly (both sides
 *                            ended), 1 with a reset (an error on one side, or a close).
 *
 * The semantics are the JavaScript relay's (tcp-forwarder.ts): an end (FIN) read from one side
 * is passed on (shutdown) once what was read before it is written, so half-closed connections
 * work; an error on one side resets the other (SO_LINGER 0); a connection is over when both
 * directions ended. Back-pressure: a direction whose target cannot take more stops reading until
 * the target drained, so at most one read (64 KiB) per direction waits in this process.
 *
 * It exits when the channel closes (Node.js stopped or died: PR_SET_PDEATHSIG too), closing every
 * socket it holds.
 */
#define _GNU_SOURCE
#include <errno.h>
#include <signal.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/prctl.h>
#include <sys/socket.h>
#include <unistd.h>
#include <fcntl.h>

#define READ_SIZE (64 * 1024)
#define BUCKETS 4096
#define MAX_EVENTS 256

/* One direction of a relay: bytes read from `relay->fd[from]`, written to `relay->fd[1 - from]`. */
struct direction {
  char *pending;      /* bytes read but not yet written (malloc'd), or NULL */
  size_t start, end;  /* pending[start..end) is still to write */
  int eof;            /* the source sent its end (FIN) */
  int shut;           /* that end was passed on: shutdown(target, SHUT_WR) */
};

struct relay {
  long id;
  int fd[2];            /* 0: client, 1: endpoint; -1 until received, -2 once closed */
  struct direction dir[2];
  uint32_t events[2];   /* epoll interest registered for fd[i] */
  int started;
  int closing;          /* a close arrived before both sockets did */
  int over;             /* finished: freed after the current batch of events */
  struct relay *next;   /* hash chain; once over, the list of relays to free */
};

static int epfd;
static int channel = -1;
static struct relay *table[BUCKETS];
/* The highest relay id a socket arrived for: a close for an id at most this, not in the table, is for a relay already over. */
static long highest_id = -1;
static char read_buffer[READ_SIZE];
/* Relays finished during the current batch of events (which may still name them), freed after it. */
static struct relay *finished;

/* Outgoing channel bytes not yet written (the channel is non-blocking). */
static char *out;
static size_t out_len, out_cap;
static int out_waiting; /* EPOLLOUT registered on the channel */

static void die(const char *what) {
  fprintf(stderr, "keelson-relay: %s: %s\n", what, strerror(errno));
  exit(1);
}

/* ---- the channel: messages to Node.js ---- */

static void channel_interest(void) {
  struct epoll_event ev = {.events = EPOLLIN | (out_len ? EPOLLOUT : 0), .data.u64 = 0};
  if (!!out_len == out_waiting) return;
  out_waiting = !!out_len;
  if (epoll_ctl(epfd, EPOLL_CTL_MOD, channel, &ev) < 0) die("epoll_ctl channel");
}

static void flush_out(void) {
  while (out_len) {
    ssize_t n = send(channel, out, out_len, MSG_NOSIGNAL);
    if (n < 0) {
      if (errno == EINTR) continue;
      if (errno == EAGAIN || errno == EWOULDBLOCK) break;
      exit(0); /* Node.js is gone */
    }
    memmove(out, out + n, out_len - (size_t)n);
    out_len -= (size_t)n;
  }
  channel_interest();
}

static void say(const char *line) {
  size_t len = strlen(line);
  if (out_len + len > out_cap) {
    size_t cap = out_cap ? out_cap : 4096;
    while (cap < out_len + len) cap *= 2;
    char *grown = realloc(out, cap);
    if (!grown) die("realloc");
    out = grown;
    out_cap = cap;
  }
  memcpy(out + out_len, line, len);
  out_len += len;
  flush_out();
}

/* ---- relays ---- */

static struct relay **slot(long id) {
  struct relay **p = &table[(unsigned long)id % BUCKETS];
  while (*p && (*p)->id != id) p = &(*p)->next;
  return p;
}

static struct relay *find(long id) { return *slot(id); }

static void unlink_relay(struct relay *r) {
  struct relay **p = slot(r->id);
  if (*p == r) *p = r->next;
}

/* Closes a socket with a reset. */
static void reject(int fd) {
  struct linger linger = {.l_onoff = 1, .l_linger = 0};
  setsockopt(fd, SOL_SOCKET, SO_LINGER, &linger, sizeof linger);
  close(fd);
}

static void close_fd(struct relay *r, int side, int reset) {
  int fd = r->fd[side];
  if (fd < 0) return;
  if (reset) reject(fd);
  else close(fd); /* also removes it from the epoll set */
  r->fd[side] = -2;
}

/* Ends relay `r`: closes both sockets (with a reset unless `clean`) and reports it; it is freed after the current batch of events. */
static void finish(struct relay *r, int clean) {
  char line[64];
  close_fd(r, 0, !clean);
  close_fd(r, 1, !clean);
  for (int i = 0; i < 2; i++) free(r->dir[i].pending);
  unlink_relay(r);
  snprintf(line, sizeof line, "{\"ended\":%ld,\"reset\":%d}\n", r->id, clean ? 0 : 1);
  say(line);
  r->over = 1;
  r->next = finished;
  finished = r;
}

/* Registers the interest fd[side] needs now: reading while its direction is open and not held up; writing while bytes wait for it. */
static int update_interest(struct relay *r, int side) {
  struct direction *in = &r->dir[side], *outgoing = &r->dir[1 - side];
  uint32_t want = 0;
  if (!in->eof && !in->pending) want |= EPOLLIN;
  if (outgoing->pending) want |= EPOLLOUT;
  if (want == r->events[side]) return 0;
  struct epoll_event ev = {.events = want, .data.u64 = ((uint64_t)(uintptr_t)r) | (uint64_t)side};
  if (epoll_ctl(epfd, EPOLL_CTL_MOD, r->fd[side], &ev) < 0) return -1;
  r->events[side] = want;
  return 0;
}

/* Passes on the end of direction `from` once nothing of it waits; finishes the relay when both ended. Returns 1 if the relay is gone. */
static int pass_end(struct relay *r, int from) {
  struct direction *d = &r->dir[from];
  if (!d->eof || d->pending || d->shut) return 0;
  d->shut = 1;
  if (shutdown(r->fd[1 - from], SHUT_WR) < 0 && errno != ENOTCONN) {
    finish(r, 0);
    return 1;
  }
  if (r->dir[0].shut && r->dir[1].shut) {
    finish(r, 1);
    return 1;
  }
  return 0;
}

/*
 * Writes what direction `from` has to its target: `len` bytes of `data` just read, or (`data`
 * NULL) what waits in its pending buffer. What does not fit waits there. 0 ok, -1 error.
 */
static int write_on(struct relay *r, int from, const char *data, size_t len) {
  struct direction *d = &r->dir[from];
  int waiting = data == NULL;
  if (waiting) {
    data = d->pending + d->start;
    len = d->end - d->start;
  }
  size_t done = 0;
  while (done < len) {
    ssize_t n = send(r->fd[1 - from], data + done, len - done, MSG_NOSIGNAL | MSG_DONTWAIT);
    if (n < 0) {
      if (errno == EINTR) continue;
      if (errno == EAGAIN || errno == EWOULDBLOCK) break;
      return -1;
    }
    done += (size_t)n;
  }
  if (waiting) {
    d->start += done;
    if (d->start == d->end) {
      free(d->pending);
      d->pending = NULL;
      d->start = d->end = 0;
    }
  } else if (done < len) {
    d->pending = malloc(len - done);
    if (!d->pending) die("malloc");
    memcpy(d->pending, data + done, len - done);
    d->start = 0;
    d->end = len - done;
  }
  return 0;
}

/* Appends `len` bytes to what direction `d` has waiting. */
static void append_pending(struct direction *d, const char *data, size_t len) {
  size_t kept = d->end - d->start;
  char *grown = malloc(kept + len);
  if (!grown) die("malloc");
  memcpy(grown, d->pending + d->start, kept);
  memcpy(grown + kept, data, len);
  free(d->pending);
  d->pending = grown;
  d->start = 0;
  d->end = kept + len;
}

/*
 * fd[side] is readable: forward one read. After a hang-up (`hup`: the peer sends nothing more)
 * read up to its end, keeping what the target cannot take yet — the kernel would otherwise keep
 * reporting the hang-up while the direction waits. Returns 1 if the relay is gone.
 */
static int on_readable(struct relay *r, int side, int hup) {
  struct direction *d = &r->dir[side];
  if (d->eof || (d->pending && !hup)) return 0;
  for (;;) {
    ssize_t n = recv(r->fd[side], read_buffer, READ_SIZE, MSG_DONTWAIT);
    if (n < 0) {
      if (errno == EINTR) continue;
      if (errno == EAGAIN || errno == EWOULDBLOCK) break;
      finish(r, 0);
      return 1;
    }
    if (n == 0) {
      d->eof = 1;
      if (pass_end(r, side)) return 1;
      break;
    }
    if (d->pending) append_pending(d, read_buffer, (size_t)n);
    else if (write_on(r, side, read_buffer, (size_t)n) < 0) {
      finish(r, 0);
      return 1;
    }
    if (!hup) break;
  }
  if (update_interest(r, side) < 0 || update_interest(r, 1 - side) < 0) {
    finish(r, 0);
    return 1;
  }
  return 0;
}

/* fd[side] is writable: write what waits for it. Returns 1 if the relay is gone. */
static int on_writable(struct relay *r, int side) {
  int from = 1 - side;
  struct direction *d = &r->dir[from];
  if (!d->pending) return 0;
  if (write_on(r, from, NULL, 0) < 0) {
    finish(r, 0);
    return 1;
  }
  if (!d->pending && pass_end(r, from)) return 1;
  if (update_interest(r, side) < 0 || update_interest(r, from) < 0) {
    finish(r, 0);
    return 1;
  }
  return 0;
}

static void start(struct relay *r) {
  r->started = 1;
  for (int side = 0; side < 2; side++) {
    struct epoll_event ev = {.events = EPOLLIN, .data.u64 = ((uint64_t)(uintptr_t)r) | (uint64_t)side};
    int flags = fcntl(r->fd[side], F_GETFL);
    if (flags < 0 || fcntl(r->fd[side], F_SETFL, flags | O_NONBLOCK) < 0 || epoll_ctl(epfd, EPOLL_CTL_ADD, r->fd[side], &ev) < 0) {
      finish(r, 0);
      return;
    }
    r->events[side] = EPOLLIN;
  }
}

/* A socket arrived for `side` of relay `id`. */
static void received(long id, int side, int fd) {
  struct relay *r = find(id);
  if (id > highest_id) highest_id = id;
  if (!r) {
    r = calloc(1, sizeof *r);
    if (!r) die("calloc");
    r->id = id;
    r->fd[0] = r->fd[1] = -1;
    struct relay **p = slot(id);
    *p = r;
  }
  if (r->fd[side] != -1) {
    reject(fd);
    return;
  }
  r->fd[side] = fd;
  if (r->fd[0] < 0 || r->fd[1] < 0) return;
  if (r->closing) finish(r, 0);
  else start(r);
}

static void close_relay(long id) {
  struct relay *r = find(id);
  if (r) {
    if (r->started) finish(r, 0);
    else r->closing = 1;
    return;
  }
  if (id <= highest_id) return; /* over already */
  /* Its sockets are still on their way: remember the close. */
  r = calloc(1, sizeof *r);
  if (!r) die("calloc");
  r->id = id;
  r->fd[0] = r->fd[1] = -1;
  r->closing = 1;
  struct relay **p = slot(id);
  *p = r;
}

/* ---- the channel: messages from Node.js ---- */

/* The integer after `"key":` in `line`, or `fallback`. */
static long number_of(const char *line, const char *key, long fallback) {
  char pattern[32];
  snprintf(pattern, sizeof pattern, "\"%s\":", key);
  const char *at = strstr(line, pattern);
  if (!at) return fallback;
  char *end;
  long value = strtol(at + strlen(pattern), &end, 10);
  return end == at + strlen(pattern) ? fallback : value;
}

/* Sockets received with the channel's bytes and not yet matched with their NODE_HANDLE line. */
static int fds[64];
static int fd_count;

static void on_line(char *line) {
  if (strstr(line, "\"cmd\":\"NODE_HANDLE\"")) {
    if (fd_count == 0) {
      say("{\"cmd\":\"NODE_HANDLE_NACK\"}\n");
      return;
    }
    int fd = fds[0];
    memmove(fds, fds + 1, sizeof fds[0] * (size_t)--fd_count);
    say("{\"cmd\":\"NODE_HANDLE_ACK\"}\n");
    long id = number_of(line, "relay", -1);
    int side = (int)number_of(line, "side", -1);
    if (id < 0 || side < 0 || side > 1) {
      reject(fd);
      return;
    }
    char got[64];
    snprintf(got, sizeof got, "{\"got\":%ld,\"side\":%d}\n", id, side);
    say(got);
    received(id, side, fd);
    return;
  }
  long id = number_of(line, "close", -1);
  if (id >= 0) close_relay(id);
}

static char *in;
static size_t in_len, in_cap;

static void on_channel_readable(void) {
  char control[CMSG_SPACE(sizeof(int) * 16)];
  if (in_cap - in_len < 4096) {
    in_cap = in_cap ? in_cap * 2 : 16384;
    in = realloc(in, in_cap);
    if (!in) die("realloc");
  }
  struct iovec iov = {.iov_base = in + in_len, .iov_len = in_cap - in_len - 1};
  struct msghdr msg = {.msg_iov = &iov, .msg_iovlen = 1, .msg_control = control, .msg_controllen = sizeof control};
  ssize_t n = recvmsg(channel, &msg, MSG_CMSG_CLOEXEC | MSG_DONTWAIT);
  if (n < 0) {
    if (errno == EAGAIN || errno == EWOULDBLOCK || errno == EINTR) return;
    exit(0);
  }
  if (n == 0) exit(0); /* Node.js closed the channel: stop (the kernel closes every socket) */
  for (struct cmsghdr *c = CMSG_FIRSTHDR(&msg); c; c = CMSG_NXTHDR(&msg, c)) {
    if (c->cmsg_level != SOL_SOCKET || c->cmsg_type != SCM_RIGHTS) continue;
    int count = (int)((c->cmsg_len - CMSG_LEN(0)) / sizeof(int));
    for (int i = 0; i < count; i++) {
      int fd;
      memcpy(&fd, CMSG_DATA(c) + i * sizeof(int), sizeof fd);
      if (fd_count < (int)(sizeof fds / sizeof fds[0])) fds[fd_count++] = fd;
      else close(fd);
    }
  }
  in_len += (size_t)n;
  in[in_len] = '\0';
  char *line = in, *newline;
  while ((newline = memchr(line, '\n', in_len - (size_t)(line - in)))) {
    *newline = '\0';
    on_line(line);
    line = newline + 1;
  }
  in_len -= (size_t)(line - in);
  memmove(in, line, in_len);
}

int main(void) {
  const char *fd_env = getenv("NODE_CHANNEL_FD");
  const char *mode = getenv("NODE_CHANNEL_SERIALIZATION_MODE");
  if (!fd_env || (mode && strcmp(mode, "json") != 0)) {
    fprintf(stderr, "keelson-relay: run by keelson's service proxy only (a Node.js IPC channel in json mode)\n");
    return 2;
  }
  channel = atoi(fd_env);
  prctl(PR_SET_PDEATHSIG, SIGKILL);
  if (getppid() == 1) return 0; /* the parent died before the line above */
  signal(SIGPIPE, SIG_IGN);
  int flags = fcntl(channel, F_GETFL);
  if (flags < 0 || fcntl(channel, F_SETFL, flags | O_NONBLOCK) < 0) die("fcntl channel");
  epfd = epoll_create1(EPOLL_CLOEXEC);
  if (epfd < 0) die("epoll_create1");
  struct epoll_event ev = {.events = EPOLLIN, .data.u64 = 0};
  if (epoll_ctl(epfd, EPOLL_CTL_ADD, channel, &ev) < 0) die("epoll_ctl channel");

  struct epoll_event events[MAX_EVENTS];
  for (;;) {
    int n = epoll_wait(epfd, events, MAX_EVENTS, -1);
    if (n < 0) {
      if (errno == EINTR) continue;
      die("epoll_wait");
    }
    for (int i = 0; i < n; i++) {
      uint64_t data = events[i].data.u64;
      uint32_t what = events[i].events;
      if (data == 0) {
        if (what & EPOLLOUT) flush_out();
        if (what & (EPOLLIN | EPOLLHUP | EPOLLERR)) on_channel_readable();
        continue;
      }
      struct relay *r = (struct relay *)(uintptr_t)(data & ~(uint64_t)1);
      int side = (int)(data & 1);
      /* Finished earlier in this batch (its sockets closed): skip what the batch still says of it. */
      if (r->over) continue;
      if (what & EPOLLERR) {
        finish(r, 0);
        continue;
      }
      if ((what & (EPOLLIN | EPOLLHUP)) && on_readable(r, side, (what & EPOLLHUP) != 0)) continue;
      if ((what & EPOLLOUT) && on_writable(r, side)) continue;
      /* Hung up with nothing more to read from it and nothing to write: that side is gone. */
      if ((what & EPOLLHUP) && r->dir[side].eof && !r->dir[1 - side].pending && !r->dir[1 - side].shut) finish(r, 0);
    }
    while (finished) {
      struct relay *r = finished;
      finished = r->next;
      free(r);
    }
  }
}
