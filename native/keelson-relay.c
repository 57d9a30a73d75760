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
 * With --sockmap (and the privileges to load BPF programs), the kernel forwards the bytes instead
 * of this process copying them: see "the kernel forwards" below. `keelson-relay --check-sockmap`
 * (no channel needed) exits 0 if that can be set up here, else 3 saying why.
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
#include <linux/bpf.h>
#include <linux/sockios.h>
#include <linux/tcp.h>
#include <netinet/in.h>
#include <sys/ioctl.h>
#include <sys/mman.h>
#include <sys/syscall.h>
#include <sys/timerfd.h>

#define READ_SIZE (64 * 1024)
#define BUCKETS 4096
#define MAX_EVENTS 256

/* One direction of a relay: bytes read from `relay->fd[from]`, written to `relay->fd[1 - from]`. */
struct direction {
  char *pending;      /* bytes read but not yet written (malloc'd), or NULL */
  size_t start, end;  /* pending[start..end) is still to write */
  int eof;            /* the source sent its end (FIN) */
  int shut;           /* that end was passed on: shutdown(target, SHUT_WR) */
  int mode;           /* COPY, KERNEL or DRAINING: see "the kernel forwards" below */
  uint64_t read;      /* bytes read here from the source since it entered the sockmap */
};

enum { COPY, KERNEL, DRAINING };

struct relay {
  long id;
  int fd[2];            /* 0: client, 1: endpoint; -1 until received, -2 once closed */
  struct direction dir[2];
  uint32_t events[2];   /* epoll interest registered for fd[i] */
  int started;
  int closing;          /* a close arrived before both sockets did */
  int over;             /* finished: freed after the current batch of events */
  int registered[2];    /* fd[i] is in the epoll set */
  /* The kernel forwards (sockmap): each socket's cookie (0: never in the maps), bytes written
   * into it before (the kernel's count of what it wrote starts there), the credit last given. */
  uint64_t cookie[2], base_written[2], credit[2];
  uint32_t slot[2];     /* each direction's slot in the counts map, plus one (0: none) */
  int tries;            /* attempts to hand it to the kernel so far */
  struct relay *knext, *kprev; /* the relays with a direction the kernel forwards or drains */
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

static void kernel_forget(struct relay *r);
static int kernel_wait(struct relay *r, int from);
static int end_is_early(struct relay *r, int side);

/* Ends relay `r`: closes both sockets (with a reset unless `clean`) and reports it; it is freed after the current batch of events. */
static void finish(struct relay *r, int clean) {
  char line[64];
  kernel_forget(r);
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

static int in_kernel(struct relay *r);

/*
 * Registers the interest fd[side] needs now: reading while its direction is copied, open and not
 * held up (its end, while the kernel forwards it); writing while bytes wait for it. A socket of a
 * relay the kernel forwards leaves the epoll set while nothing is wanted of it (a hang-up would
 * be reported over and over); the sweep watches it for errors then.
 */
static int update_interest(struct relay *r, int side) {
  struct direction *in = &r->dir[side], *outgoing = &r->dir[1 - side];
  uint32_t want = 0;
  if (in->mode == COPY && !in->eof && !in->pending) want |= EPOLLIN;
  if (in->mode == KERNEL) want |= EPOLLRDHUP;
  if (outgoing->pending) want |= EPOLLOUT;
  if (want == r->events[side] && r->registered[side]) return 0;
  if (!want && in_kernel(r)) {
    if (r->registered[side] && epoll_ctl(epfd, EPOLL_CTL_DEL, r->fd[side], NULL) < 0) return -1;
    r->registered[side] = 0;
    r->events[side] = 0;
    return 0;
  }
  struct epoll_event ev = {.events = want, .data.u64 = ((uint64_t)(uintptr_t)r) | (uint64_t)side};
  if (epoll_ctl(epfd, r->registered[side] ? EPOLL_CTL_MOD : EPOLL_CTL_ADD, r->fd[side], &ev) < 0) return -1;
  r->registered[side] = 1;
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
  if (d->mode != COPY || d->eof || (d->pending && !hup)) return 0;
  for (;;) {
    ssize_t n = recv(r->fd[side], read_buffer, READ_SIZE, MSG_DONTWAIT);
    if (n < 0) {
      if (errno == EINTR) continue;
      if (errno == EAGAIN || errno == EWOULDBLOCK) break;
      finish(r, 0);
      return 1;
    }
    /* An end read before all the program passed: the rest waits in the kernel (behind bytes for this socket). */
    if (n == 0 && end_is_early(r, side)) return kernel_wait(r, side);
    if (n == 0) {
      d->eof = 1;
      if (pass_end(r, side)) return 1;
      break;
    }
    d->read += (uint64_t)n;
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

/*
 * ---- the kernel forwards (sockmap) ----
 *
 * Where this process may load BPF programs (root: CAP_BPF and CAP_NET_ADMIN) and was started with
 * --sockmap, the kernel itself forwards a relay's bytes: both sockets go into a SOCKHASH whose
 * stream verdict program redirects each arriving skb to the other socket's send side. This
 * process then is not woken per message at all (bench/proxy: the copy per request and its
 * wake-up are gone).
 *
 * The kernel's redirect queue has no back-pressure of its own (a reader that stalls lets the
 * sender fill kernel memory without bound), so this keeps one: each direction has a credit, the
 * count of bytes the program may redirect; past it the program stops redirecting and passes what
 * arrives to the socket's own receive side instead, where it is charged to the socket's receive
 * buffer, so TCP's window closes on the sender. The sweep (a timer, every SWEEP_MS) renews the
 * credit of a direction as its target takes the bytes (up to KERNEL_WINDOW bytes between what
 * was redirected and what reached the target's TCP send queue), and turns a direction the
 * program stopped — or whose end (FIN) arrived — over to copying once everything redirected has
 * been written: what was passed, then the end, are read as the copying relay reads them. So the
 * order of bytes and of the end is kept, and a lasting bulk transfer ends up copied here with
 * its back-pressure; a request-response exchange stays in the kernel.
 *
 * Three things the kernel does that this works around (found here, Linux 6.18):
 * - the verdict takes whole skbs, also one of which part was already read (by Node.js before the
 *   hand-over): that part would be sent twice. So before a relay enters the map, this reads
 *   what waits in its sockets to the last byte and writes it on (predrain);
 * - the end's empty skb, redirected, makes the target report an error: the program drops it
 *   (the end itself is the socket's state, seen here as EPOLLRDHUP);
 * - passed bytes queue behind bytes redirected *to* the same socket, while the end shows at
 *   once: an end read before all passed bytes were (the program counts them) is early, and the
 *   direction waits for the rest.
 *
 * Maps: socks (SOCKHASH, by socket cookie) the sockets; state (hash, by cookie) {peer cookie,
 * credit, slot} written here; counts (an array mapped into this process, so the sweep reads it
 * without a system call) {redirected, stopped, passed} at each direction's slot, written by the
 * program.
 */

#define KERNEL_WINDOW (1024 * 1024)
#define SWEEP_MS 20
#define DRAIN_MS 1
#define MAP_ENTRIES 65536
#define KERNEL_TRIES 4 /* attempts to hand one relay to the kernel */
#define TIMER 2 /* the timerfd's epoll data (relays are aligned pointers + side: never 2) */

struct kstate {
  uint64_t peer, credit;
  uint32_t slot, unused;
};
struct kcounts {
  uint64_t redirected, stopped, passed;
};

static int kernel_on;     /* the maps and the program are set up */
static int socks_map = -1, state_map = -1, counts_map = -1;
static int timer = -1;    /* the sweep's timerfd */
static int timer_ms;      /* its period now, 0: disarmed */
static struct relay *kernel_relays;
static volatile struct kcounts *counts; /* the counts map, mapped here */
static uint32_t free_slots[MAP_ENTRIES];
static int free_count;
static int draining;      /* directions in DRAINING mode */

static long bpf(int cmd, union bpf_attr *attr) { return syscall(SYS_bpf, cmd, attr, sizeof *attr); }

static int map_create(enum bpf_map_type type, unsigned key, unsigned value, unsigned flags) {
  union bpf_attr a;
  memset(&a, 0, sizeof a);
  a.map_type = type;
  a.map_flags = flags;
  a.key_size = key;
  a.value_size = value;
  a.max_entries = MAP_ENTRIES;
  return (int)bpf(BPF_MAP_CREATE, &a);
}

static int map_op(int cmd, int map, const void *key, void *value, uint64_t flags) {
  union bpf_attr a;
  memset(&a, 0, sizeof a);
  a.map_fd = (uint32_t)map;
  a.key = (uint64_t)(uintptr_t)key;
  a.value = (uint64_t)(uintptr_t)value;
  a.flags = flags;
  return (int)bpf(cmd, &a);
}

#define INSN(code, dst, src, off, imm) ((struct bpf_insn){(code), (dst), (src), (off), (imm)})
#define LD_MAP(dst, fd) INSN(BPF_LD | BPF_IMM | BPF_DW, dst, BPF_PSEUDO_MAP_FD, 0, fd), INSN(0, 0, 0, 0, 0)

/*
 * Loads the verdict program and attaches it to the socks map. In C it reads:
 *   s = state[bpf_get_socket_cookie(skb)]; if (!s) return SK_PASS;
 *   c = &counts[s->slot];
 *   if (skb->len == 0) return SK_DROP;   (the end's empty skb: redirected, the target would report an error)
 *   if (c->stopped) goto passed;
 *   if (c->redirected + skb->len > s->credit) goto stop;
 *   c->redirected += skb->len;
 *   if (bpf_sk_redirect_hash(skb, socks, &s->peer, 0) == SK_PASS) return SK_PASS;  (redirected)
 *   c->redirected -= skb->len;           (the peer is not in the map)
 * stop:   c->stopped = 1;
 * passed: c->passed += skb->len; return SK_PASS;
 * The verdicts of one socket run one at a time (under its lock), so plain adds do.
 */
static int load_program(void) {
  struct bpf_insn prog[] = {
      /* 0 */ INSN(BPF_ALU64 | BPF_MOV | BPF_X, 6, 1, 0, 0),
      /* 1 */ INSN(BPF_JMP | BPF_CALL, 0, 0, 0, BPF_FUNC_get_socket_cookie),
      /* 2 */ INSN(BPF_STX | BPF_MEM | BPF_DW, 10, 0, -8, 0),
      /* 3 */ LD_MAP(1, state_map),
      /* 5 */ INSN(BPF_ALU64 | BPF_MOV | BPF_X, 2, 10, 0, 0),
      /* 6 */ INSN(BPF_ALU64 | BPF_ADD | BPF_K, 2, 0, 0, -8),
      /* 7 */ INSN(BPF_JMP | BPF_CALL, 0, 0, 0, BPF_FUNC_map_lookup_elem),
      /* 8 */ INSN(BPF_JMP | BPF_JEQ | BPF_K, 0, 0, 37, 0), /* no state -> 46 pass */
      /* 9 */ INSN(BPF_ALU64 | BPF_MOV | BPF_X, 9, 0, 0, 0),
      /* 10 */ INSN(BPF_LDX | BPF_MEM | BPF_W, 1, 9, 16, 0),
      /* 11 */ INSN(BPF_STX | BPF_MEM | BPF_W, 10, 1, -12, 0),
      /* 12 */ LD_MAP(1, counts_map),
      /* 14 */ INSN(BPF_ALU64 | BPF_MOV | BPF_X, 2, 10, 0, 0),
      /* 15 */ INSN(BPF_ALU64 | BPF_ADD | BPF_K, 2, 0, 0, -12),
      /* 16 */ INSN(BPF_JMP | BPF_CALL, 0, 0, 0, BPF_FUNC_map_lookup_elem),
      /* 17 */ INSN(BPF_JMP | BPF_JEQ | BPF_K, 0, 0, 28, 0), /* -> 46 pass */
      /* 18 */ INSN(BPF_ALU64 | BPF_MOV | BPF_X, 8, 0, 0, 0),
      /* 19 */ INSN(BPF_LDX | BPF_MEM | BPF_W, 7, 6, 0, 0),   /* skb->len */
      /* 20 */ INSN(BPF_JMP | BPF_JEQ | BPF_K, 7, 0, 27, 0), /* empty -> 48 drop */
      /* 21 */ INSN(BPF_LDX | BPF_MEM | BPF_DW, 1, 8, 8, 0),
      /* 22 */ INSN(BPF_JMP | BPF_JNE | BPF_K, 1, 0, 20, 0), /* stopped -> 43 passed */
      /* 23 */ INSN(BPF_LDX | BPF_MEM | BPF_DW, 1, 8, 0, 0),
      /* 24 */ INSN(BPF_ALU64 | BPF_ADD | BPF_X, 1, 7, 0, 0),
      /* 25 */ INSN(BPF_LDX | BPF_MEM | BPF_DW, 2, 9, 8, 0),
      /* 26 */ INSN(BPF_JMP | BPF_JGT | BPF_X, 1, 2, 14, 0), /* over the credit -> 41 stop */
      /* 27 */ INSN(BPF_STX | BPF_MEM | BPF_DW, 8, 1, 0, 0),
      /* 28 */ INSN(BPF_LDX | BPF_MEM | BPF_DW, 1, 9, 0, 0),
      /* 29 */ INSN(BPF_STX | BPF_MEM | BPF_DW, 10, 1, -24, 0),
      /* 30 */ INSN(BPF_ALU64 | BPF_MOV | BPF_X, 1, 6, 0, 0),
      /* 31 */ LD_MAP(2, socks_map),
      /* 33 */ INSN(BPF_ALU64 | BPF_MOV | BPF_X, 3, 10, 0, 0),
      /* 34 */ INSN(BPF_ALU64 | BPF_ADD | BPF_K, 3, 0, 0, -24),
      /* 35 */ INSN(BPF_ALU64 | BPF_MOV | BPF_K, 4, 0, 0, 0),
      /* 36 */ INSN(BPF_JMP | BPF_CALL, 0, 0, 0, BPF_FUNC_sk_redirect_hash),
      /* 37 */ INSN(BPF_JMP | BPF_JEQ | BPF_K, 0, 0, 9, SK_PASS), /* redirected -> 47 exit */
      /* 38 */ INSN(BPF_LDX | BPF_MEM | BPF_DW, 1, 8, 0, 0),
      /* 39 */ INSN(BPF_ALU64 | BPF_SUB | BPF_X, 1, 7, 0, 0),
      /* 40 */ INSN(BPF_STX | BPF_MEM | BPF_DW, 8, 1, 0, 0),
      /* 41 */ INSN(BPF_ALU64 | BPF_MOV | BPF_K, 1, 0, 0, 1),
      /* 42 */ INSN(BPF_STX | BPF_MEM | BPF_DW, 8, 1, 8, 0),
      /* 43 */ INSN(BPF_LDX | BPF_MEM | BPF_DW, 1, 8, 16, 0),
      /* 44 */ INSN(BPF_ALU64 | BPF_ADD | BPF_X, 1, 7, 0, 0),
      /* 45 */ INSN(BPF_STX | BPF_MEM | BPF_DW, 8, 1, 16, 0),
      /* 46 */ INSN(BPF_ALU64 | BPF_MOV | BPF_K, 0, 0, 0, SK_PASS),
      /* 47 */ INSN(BPF_JMP | BPF_EXIT, 0, 0, 0, 0),
      /* 48 */ INSN(BPF_ALU64 | BPF_MOV | BPF_K, 0, 0, 0, SK_DROP),
      /* 49 */ INSN(BPF_JMP | BPF_EXIT, 0, 0, 0, 0),
  };
  static char log[16384];
  union bpf_attr a;
  memset(&a, 0, sizeof a);
  a.prog_type = BPF_PROG_TYPE_SK_SKB;
  a.insns = (uint64_t)(uintptr_t)prog;
  a.insn_cnt = sizeof prog / sizeof prog[0];
  a.license = (uint64_t)(uintptr_t) "GPL";
  a.log_buf = (uint64_t)(uintptr_t)log;
  a.log_size = sizeof log;
  a.log_level = 1;
  int fd = (int)bpf(BPF_PROG_LOAD, &a);
  if (fd < 0) {
    int saved = errno;
    if (getenv("KEELSON_RELAY_DEBUG")) fprintf(stderr, "%s\n", log);
    errno = saved;
    return -1;
  }
  memset(&a, 0, sizeof a);
  a.target_fd = (uint32_t)socks_map;
  a.attach_bpf_fd = (uint32_t)fd;
  a.attach_type = BPF_SK_SKB_VERDICT;
  if (bpf(BPF_PROG_ATTACH, &a) < 0) return -1;
  return 0; /* the map holds the program now; fd stays open for the process's life */
}

/* Sets the kernel forwarding up. 0, or -1 with errno and `what` set. */
static int kernel_setup(const char **what) {
  *what = "bpf map";
  socks_map = map_create(BPF_MAP_TYPE_SOCKHASH, sizeof(uint64_t), sizeof(uint32_t), 0);
  state_map = map_create(BPF_MAP_TYPE_HASH, sizeof(uint64_t), sizeof(struct kstate), 0);
  counts_map = map_create(BPF_MAP_TYPE_ARRAY, sizeof(uint32_t), sizeof(struct kcounts), BPF_F_MMAPABLE);
  if (socks_map < 0 || state_map < 0 || counts_map < 0) return -1;
  *what = "mmap of the counts map";
  void *mapped = mmap(NULL, sizeof(struct kcounts) * MAP_ENTRIES, PROT_READ | PROT_WRITE, MAP_SHARED, counts_map, 0);
  if (mapped == MAP_FAILED) return -1;
  counts = mapped;
  for (uint32_t i = 0; i < MAP_ENTRIES; i++) free_slots[free_count++] = MAP_ENTRIES - 1 - i;
  *what = "bpf program";
  if (load_program() < 0) return -1;
  *what = "timerfd";
  timer = timerfd_create(CLOCK_MONOTONIC, TFD_NONBLOCK | TFD_CLOEXEC);
  if (timer < 0) return -1;
  kernel_on = 1;
  return 0;
}

/* The sweep runs every DRAIN_MS while a direction drains, every SWEEP_MS while the kernel forwards one, else not. */
static void arm_timer(void) {
  int ms = draining ? DRAIN_MS : kernel_relays ? SWEEP_MS : 0;
  if (ms == timer_ms) return;
  struct itimerspec spec = {.it_interval = {.tv_nsec = ms * 1000000L}, .it_value = {.tv_nsec = ms * 1000000L}};
  if (timerfd_settime(timer, 0, &spec, NULL) < 0) die("timerfd_settime");
  timer_ms = ms;
}

/* Bytes written into the socket so far: what its peer acknowledged plus what waits in its send queue. */
static int written_into(int fd, uint64_t *bytes) {
  struct tcp_info info;
  socklen_t len = sizeof info;
  int queued;
  /* acknowledged first: read the other way round, an ack in between would count bytes twice */
  if (getsockopt(fd, IPPROTO_TCP, TCP_INFO, &info, &len) < 0 || ioctl(fd, SIOCOUTQ, &queued) < 0) return -1;
  *bytes = info.tcpi_bytes_acked + (uint64_t)queued;
  return 0;
}

static int set_credit(struct relay *r, int from, uint64_t credit) {
  struct kstate st = {.peer = r->cookie[1 - from], .credit = credit, .slot = r->slot[from] - 1};
  if (map_op(BPF_MAP_UPDATE_ELEM, state_map, &r->cookie[from], &st, BPF_ANY) < 0) return -1;
  r->credit[from] = credit;
  return 0;
}

static int in_kernel(struct relay *r) { return r->kprev || kernel_relays == r; }

/* Takes `r` off the sweep's list (no direction of it forwarded or drained by the kernel now). */
static void kernel_unlist(struct relay *r) {
  if (!in_kernel(r)) return;
  if (r->kprev) r->kprev->knext = r->knext;
  else kernel_relays = r->knext;
  if (r->knext) r->knext->kprev = r->kprev;
  r->knext = r->kprev = NULL;
  arm_timer();
}

static void kernel_list(struct relay *r) {
  if (in_kernel(r)) return;
  r->knext = kernel_relays;
  if (kernel_relays) kernel_relays->kprev = r;
  kernel_relays = r;
  arm_timer();
}

/* The relay is over: its entries leave the maps (its sockets leave the socks map as they close). */
static void kernel_forget(struct relay *r) {
  for (int side = 0; side < 2; side++) {
    if (r->dir[side].mode == DRAINING) draining--;
    r->dir[side].mode = COPY;
    if (r->cookie[side]) map_op(BPF_MAP_DELETE_ELEM, state_map, &r->cookie[side], NULL, 0);
    if (r->slot[side]) free_slots[free_count++] = r->slot[side] - 1;
    r->slot[side] = 0;
  }
  kernel_unlist(r);
}

/*
 * Whether an end read from fd[side] came before what the program passed to it: passed bytes
 * queue behind the bytes other sockets redirected to this one (the kernel keeps both in one
 * queue), and the end is seen at once.
 */
static int end_is_early(struct relay *r, int side) { return r->slot[side] && counts[r->slot[side] - 1].passed > r->dir[side].read; }

/* Direction `from` waits (DRAINING) for the kernel: checked by the sweep's next ticks. */
static int kernel_wait(struct relay *r, int from) {
  r->dir[from].mode = DRAINING;
  draining++;
  kernel_list(r);
  if (update_interest(r, from) < 0) {
    finish(r, 0);
    return 1;
  }
  return 0;
}

/* Runs the verdict over what the socket received and no verdict saw yet (arrived before the socket entered the map, say). */
static void kick(int fd) {
  int one = 1;
  setsockopt(fd, SOL_SOCKET, SO_RCVLOWAT, &one, sizeof one);
}

/*
 * Reads what waits in both sockets of `r` and writes it on, as copying does — to the last byte:
 * the verdict takes whole skbs, so one of which a part was read already (by Node.js before the
 * hand-over) must not be left for it. Returns 1 if the relay is gone, -1 if it cannot go to the
 * kernel now (bytes wait here for a target that is full, or an end arrived), else 0.
 */
static int predrain(struct relay *r, int wrote[2]) {
  for (int side = 0; side < 2; side++) {
    struct direction *d = &r->dir[side];
    if (d->pending || d->eof) return -1;
    for (;;) {
      ssize_t n = recv(r->fd[side], read_buffer, READ_SIZE, MSG_DONTWAIT);
      if (n < 0 && errno == EINTR) continue;
      if (n < 0 && (errno == EAGAIN || errno == EWOULDBLOCK)) break;
      if (n < 0) {
        finish(r, 0);
        return 1;
      }
      if (n == 0) {
        d->eof = 1;
        return pass_end(r, side) ? 1 : -1;
      }
      if (write_on(r, side, read_buffer, (size_t)n) < 0) {
        finish(r, 0);
        return 1;
      }
      wrote[1 - side] = 1;
      if (d->pending) return -1;
    }
  }
  return 0;
}

/*
 * Hands relay `r` to the kernel. 0 done; 1 the relay is gone; -1 not (bytes wait for a full
 * target, an end arrived, a socket is not established, a map is full): the relay copies, and a
 * socket already in the map passes everything to its own receive side, which reads as if it
 * were not there.
 */
static int kernel_start(struct relay *r) {
  if (free_count < 2) return -1;
  r->tries++;
  int wrote[2] = {0, 0};
  int drained = predrain(r, wrote);
  if (drained) return drained;
  for (int side = 0; side < 2; side++) {
    struct tcp_info info;
    socklen_t len = sizeof info;
    socklen_t clen = sizeof r->cookie[side];
    if (getsockopt(r->fd[side], IPPROTO_TCP, TCP_INFO, &info, &len) < 0 || info.tcpi_state != BPF_TCP_ESTABLISHED) return -1;
    if (getsockopt(r->fd[side], SOL_SOCKET, SO_COOKIE, &r->cookie[side], &clen) < 0) return -1;
    if (written_into(r->fd[side], &r->base_written[side]) < 0) return -1;
  }
  for (int side = 0; side < 2; side++) {
    r->slot[side] = free_slots[--free_count] + 1;
    counts[r->slot[side] - 1].redirected = 0;
    counts[r->slot[side] - 1].stopped = 0;
    counts[r->slot[side] - 1].passed = 0;
    if (set_credit(r, side, KERNEL_WINDOW) < 0) {
      r->tries = KERNEL_TRIES;
      return -1;
    }
  }
  /* Bytes arriving on the first socket in the map before the second is would find no peer (the
   * program then stops that direction: copied from then on). So the first is the side not
   * expected to speak: the endpoint when nothing was just written to it (the client may send any
   * time), else the client (it waits for the reply the endpoint is about to send). */
  int first = wrote[1] ? 0 : 1;
  for (int i = 0; i < 2; i++) {
    int side = i == 0 ? first : 1 - first;
    uint32_t fd = (uint32_t)r->fd[side];
    if (map_op(BPF_MAP_UPDATE_ELEM, socks_map, &r->cookie[side], &fd, BPF_ANY) < 0) {
      /* Nothing was redirected (the peer is not in the map yet): stop the program for both. */
      for (int s = 0; s < 2; s++) map_op(BPF_MAP_DELETE_ELEM, state_map, &r->cookie[s], NULL, 0);
      r->tries = KERNEL_TRIES;
      return -1;
    }
  }
  for (int side = 0; side < 2; side++) r->dir[side].mode = KERNEL;
  kernel_list(r);
  for (int side = 0; side < 2; side++) kick(r->fd[side]);
  return 0;
}

/*
 * Hands a copied relay to the kernel when it can be: both directions open, nothing waiting here
 * (bytes for a full target), never handed before; at most KERNEL_TRIES attempts. Returns 1 if
 * the relay is gone.
 */
static int maybe_kernel(struct relay *r) {
  if (!kernel_on || r->tries >= KERNEL_TRIES || r->slot[0] || r->over) return 0;
  for (int side = 0; side < 2; side++) {
    struct direction *d = &r->dir[side];
    if (d->pending || d->eof || d->shut) return 0;
  }
  if (kernel_start(r) > 0) return 1;
  if (update_interest(r, 0) < 0 || update_interest(r, 1) < 0) {
    finish(r, 0);
    return 1;
  }
  return 0;
}

/* Direction `from` is copied from now on: everything the kernel redirected was written. Returns 1 if the relay is gone. */
static int kernel_drained(struct relay *r, int from) {
  r->dir[from].mode = COPY;
  draining--;
  if (!r->dir[0].mode && !r->dir[1].mode) kernel_unlist(r);
  else arm_timer();
  if (update_interest(r, from) < 0 || update_interest(r, 1 - from) < 0) {
    finish(r, 0);
    return 1;
  }
  return 0;
}

/*
 * Checks direction `from` of a relay the kernel forwards or drains: a stop (credit used up, or
 * the peer not in the map) or an end seen starts the drain; a drain whose bytes were all written
 * ends in copying; a direction near its credit gets more. Returns 1 if the relay is gone.
 */
static int kernel_check(struct relay *r, int from, int ended) {
  struct direction *d = &r->dir[from];
  struct kcounts c;
  uint64_t written;
  if (d->mode == COPY) return 0;
  if (ended && d->mode == KERNEL) kick(r->fd[from]); /* the verdict sees all that came before the end */
  c.redirected = counts[r->slot[from] - 1].redirected;
  c.stopped = counts[r->slot[from] - 1].stopped;
  if (d->mode == KERNEL && (ended || c.stopped) && kernel_wait(r, from)) return 1;
  /* A direction the kernel forwards, far from its credit, needs nothing more. */
  if (d->mode == KERNEL && c.redirected + KERNEL_WINDOW / 2 <= r->credit[from]) return 0;
  if (written_into(r->fd[1 - from], &written) < 0) {
    finish(r, 0);
    return 1;
  }
  written -= r->base_written[1 - from];
  if (d->mode == DRAINING) return written >= c.redirected ? kernel_drained(r, from) : 0;
  if (set_credit(r, from, written + KERNEL_WINDOW) < 0) {
    finish(r, 0);
    return 1;
  }
  return 0;
}

/* The sweep's tick: checks every direction the kernel forwards or drains, and the errors of sockets out of the epoll set. */
static void kernel_sweep(void) {
  uint64_t ticks;
  if (read(timer, &ticks, sizeof ticks) < 0 && errno != EAGAIN) die("read timerfd");
  struct relay *next;
  for (struct relay *r = kernel_relays; r; r = next) {
    next = r->knext;
    int gone = 0;
    for (int side = 0; side < 2 && !gone; side++) {
      if (!r->registered[side]) {
        int err = 0;
        socklen_t len = sizeof err;
        if (getsockopt(r->fd[side], SOL_SOCKET, SO_ERROR, &err, &len) < 0 || err) {
          finish(r, 0);
          gone = 1;
          break;
        }
      }
      gone = kernel_check(r, side, 0);
    }
  }
  arm_timer();
}

/* The socket of `side` reported its end (or a hang-up) while the kernel forwards that direction. Returns 1 if the relay is gone. */
static int kernel_end(struct relay *r, int side) { return kernel_check(r, side, 1); }

static void start(struct relay *r) {
  r->started = 1;
  for (int side = 0; side < 2; side++) {
    int flags = fcntl(r->fd[side], F_GETFL);
    if (flags < 0 || fcntl(r->fd[side], F_SETFL, flags | O_NONBLOCK) < 0) {
      finish(r, 0);
      return;
    }
  }
  if (kernel_on && kernel_start(r) > 0) return;
  for (int side = 0; side < 2; side++) {
    if (update_interest(r, side) < 0) {
      finish(r, 0);
      return;
    }
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

int main(int argc, char **argv) {
  const char *what;
  int sockmap = argc > 1 && strcmp(argv[1], "--sockmap") == 0;
  if (argc > 1 && strcmp(argv[1], "--check-sockmap") == 0) {
    if (kernel_setup(&what) < 0) {
      fprintf(stderr, "keelson-relay: no sockmap forwarding here: %s: %s\n", what, strerror(errno));
      return 3;
    }
    return 0;
  }
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
  if (sockmap) {
    if (kernel_setup(&what) < 0) {
      fprintf(stderr, "keelson-relay: copying (no sockmap forwarding: %s: %s)\n", what, strerror(errno));
    } else {
      struct epoll_event tick = {.events = EPOLLIN, .data.u64 = TIMER};
      if (epoll_ctl(epfd, EPOLL_CTL_ADD, timer, &tick) < 0) die("epoll_ctl timer");
    }
  }

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
      if (data == TIMER) {
        kernel_sweep();
        continue;
      }
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
      if (r->dir[side].mode == KERNEL && (what & (EPOLLRDHUP | EPOLLHUP)) && kernel_end(r, side)) continue;
      if ((what & (EPOLLIN | EPOLLHUP)) && on_readable(r, side, (what & EPOLLHUP) != 0)) continue;
      if ((what & EPOLLIN) && maybe_kernel(r)) continue;
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
