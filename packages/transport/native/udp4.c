// IPv4 UDP sockets for the SIP hot path (docs/architecture.md, "UDP engine"). node:dgram costs a
// JavaScript call, a fresh ArrayBuffer, an rinfo object built property by property and an
// inet_ntop per datagram, and a SendWrap and a lookup per send: about a third of the floor under
// any Node.js proxy (docs/benchmarks.md, session 11). Here one readiness event reads up to BATCH
// datagrams with recvmmsg into one ArrayBuffer and makes one call into JavaScript with a metadata
// array. Sends are queued and leave together in one sendmmsg: after the batch that caused them, or
// before the loop next waits for events (a uv_prepare_t), so a send is never later than that turn
// of the loop. Plain N-API and libuv's stable uv_poll_t and uv_prepare_t, so one source builds for
// every Node.js version the project supports.
#define _GNU_SOURCE
#include <errno.h>
#include <stdio.h>
#include <netinet/in.h>
#include <node_api.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>
#include <uv.h>

#define BATCH 64
#define SLOT 65536 // the largest UDP payload fits one slot, so no datagram is truncated
#define ROUNDS 4   // batches read per readiness event before the loop gets a turn
#define OUT_BATCH 64
#define OUT_AREA (4 * SLOT) // queued payload bytes; a datagram that does not fit sends the queue first

typedef struct {
  int fd;
  int closed;
  uv_poll_t poll;
  uv_prepare_t prepare;
  napi_env env;
  napi_ref onBatch;
  napi_ref onSendFailed;
  napi_async_context context;
  char *area;
  struct mmsghdr msgs[BATCH];
  struct iovec iov[BATCH];
  struct sockaddr_in from[BATCH];
  // the send queue
  char *outArea;
  size_t outUsed;
  int outCount;
  struct mmsghdr out[OUT_BATCH];
  struct iovec outIov[OUT_BATCH];
  struct sockaddr_in to[OUT_BATCH];
  int32_t failed[2 * OUT_BATCH];
} Socket;

static void throw_errno(napi_env env, const char *what, int err) {
  char code[32];
  snprintf(code, sizeof code, "%d", err);
  napi_throw_error(env, code, what);
}

static int read_batch(Socket *s) {
  for (int i = 0; i < BATCH; i++) {
    s->iov[i].iov_base = s->area + (size_t)i * SLOT;
    s->iov[i].iov_len = SLOT;
    memset(&s->msgs[i].msg_hdr, 0, sizeof(struct msghdr));
    s->msgs[i].msg_hdr.msg_iov = &s->iov[i];
    s->msgs[i].msg_hdr.msg_iovlen = 1;
    s->msgs[i].msg_hdr.msg_name = &s->from[i];
    s->msgs[i].msg_hdr.msg_namelen = sizeof(struct sockaddr_in);
  }
  return recvmmsg(s->fd, s->msgs, BATCH, MSG_DONTWAIT, NULL);
}

/** onBatch(data: ArrayBuffer, meta: Int32Array [offset, length, address, port] per datagram, n). */
static void deliver(Socket *s, int n) {
  napi_env env = s->env;
  size_t total = 0;
  for (int i = 0; i < n; i++) total += s->msgs[i].msg_len;
  void *data;
  void *metaData;
  napi_value argv[3], metaBuffer, fn, global, ignored;
  napi_create_arraybuffer(env, total, &data, &argv[0]);
  napi_create_arraybuffer(env, (size_t)n * 16, &metaData, &metaBuffer);
  int32_t *meta = metaData;
  size_t offset = 0;
  for (int i = 0; i < n; i++) {
    unsigned len = s->msgs[i].msg_len;
    memcpy((char *)data + offset, s->area + (size_t)i * SLOT, len);
    meta[4 * i] = (int32_t)offset;
    meta[4 * i + 1] = (int32_t)len;
    meta[4 * i + 2] = (int32_t)ntohl(s->from[i].sin_addr.s_addr);
    meta[4 * i + 3] = ntohs(s->from[i].sin_port);
    offset += len;
  }
  napi_create_typedarray(env, napi_int32_array, (size_t)n * 4, metaBuffer, 0, &argv[1]);
  napi_create_int32(env, n, &argv[2]);
  napi_get_reference_value(env, s->onBatch, &fn);
  napi_get_global(env, &global);
  // As node:dgram's 'message' event: a throw becomes an uncaught exception, and microtasks run
  // when the call returns.
  if (napi_make_callback(env, s->context, global, fn, 3, argv, &ignored) == napi_pending_exception) {
    napi_value err;
    napi_get_and_clear_last_exception(env, &err);
    napi_fatal_exception(env, err);
  }
}

/**
 * Sends the queue with sendmmsg. A datagram the kernel refuses is skipped and goes to
 * onSendFailed(failed: Int32Array [queue index, errno] per datagram, n); `inJs` tells whether
 * JavaScript is on the stack (a send that found the queue full, close) or not (libuv callbacks).
 */
static void flush(Socket *s, int inJs) {
  int count = s->outCount;
  int done = 0, nFailed = 0;
  while (done < count) {
    int sent = sendmmsg(s->fd, s->out + done, (unsigned)(count - done), MSG_DONTWAIT);
    if (sent > 0) {
      done += sent;
    } else if (sent < 0 && errno == EINTR) {
      continue; // a signal came before anything was sent: try again
    } else {
      // sendmmsg reports the error of the first datagram it could not send
      s->failed[2 * nFailed] = done;
      s->failed[2 * nFailed + 1] = sent < 0 ? errno : EIO;
      nFailed++;
      done++;
    }
  }
  s->outCount = 0;
  s->outUsed = 0;
  if (nFailed == 0) return;
  napi_env env = s->env;
  napi_handle_scope scope;
  napi_open_handle_scope(env, &scope);
  void *data;
  napi_value buffer, argv[2], fn, global, ignored;
  napi_create_arraybuffer(env, (size_t)nFailed * 8, &data, &buffer);
  memcpy(data, s->failed, (size_t)nFailed * 8);
  napi_create_typedarray(env, napi_int32_array, (size_t)nFailed * 2, buffer, 0, &argv[0]);
  napi_create_int32(env, nFailed, &argv[1]);
  napi_get_reference_value(env, s->onSendFailed, &fn);
  napi_get_global(env, &global);
  if (inJs) {
    napi_call_function(env, global, fn, 2, argv, &ignored);
  } else if (napi_make_callback(env, s->context, global, fn, 2, argv, &ignored) ==
             napi_pending_exception) {
    napi_value err;
    napi_get_and_clear_last_exception(env, &err);
    napi_fatal_exception(env, err);
  }
  napi_close_handle_scope(env, scope);
}

static void on_prepare(uv_prepare_t *handle) {
  Socket *s = handle->data;
  if (s->outCount > 0 && !s->closed) flush(s, 0);
}

static void on_readable(uv_poll_t *handle, int status, int events) {
  Socket *s = handle->data;
  if (status < 0) return;
  napi_handle_scope scope;
  napi_open_handle_scope(s->env, &scope);
  for (int round = 0; round < ROUNDS && !s->closed; round++) {
    int n = read_batch(s);
    if (n <= 0) break;
    deliver(s, n);
    if (s->outCount > 0 && !s->closed) flush(s, 0); // the answers to this batch leave now
    if (n < BATCH) break;
  }
  napi_close_handle_scope(s->env, scope);
}

static napi_value make_int(napi_env env, int32_t v) {
  napi_value out;
  napi_create_int32(env, v, &out);
  return out;
}

static Socket *unwrap(napi_env env, napi_value handle) {
  Socket *s = NULL;
  napi_get_value_external(env, handle, (void **)&s);
  return s;
}

/**
 * open(address: int32 IPv4, port, recvBufferSize, sendBufferSize, onBatch, onSendFailed) -> handle;
 * throws with the errno as code.
 */
static napi_value Open(napi_env env, napi_callback_info info) {
  size_t argc = 6;
  napi_value argv[6];
  napi_get_cb_info(env, info, &argc, argv, NULL, NULL);
  int32_t address, port, rcvbuf, sndbuf;
  napi_get_value_int32(env, argv[0], &address);
  napi_get_value_int32(env, argv[1], &port);
  napi_get_value_int32(env, argv[2], &rcvbuf);
  napi_get_value_int32(env, argv[3], &sndbuf);
  int fd = socket(AF_INET, SOCK_DGRAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
  if (fd < 0) {
    throw_errno(env, "socket", errno);
    return NULL;
  }
  // Linux caps both at net.core.rmem_max / wmem_max for unprivileged processes; a refusal is not fatal.
  if (rcvbuf > 0) setsockopt(fd, SOL_SOCKET, SO_RCVBUF, &rcvbuf, sizeof rcvbuf);
  if (sndbuf > 0) setsockopt(fd, SOL_SOCKET, SO_SNDBUF, &sndbuf, sizeof sndbuf);
  struct sockaddr_in local;
  memset(&local, 0, sizeof local);
  local.sin_family = AF_INET;
  local.sin_port = htons((uint16_t)port);
  local.sin_addr.s_addr = htonl((uint32_t)address);
  if (bind(fd, (struct sockaddr *)&local, sizeof local) != 0) {
    int err = errno;
    close(fd);
    throw_errno(env, "bind", err);
    return NULL;
  }
  Socket *s = calloc(1, sizeof(Socket));
  s->area = malloc((size_t)BATCH * SLOT);
  s->outArea = malloc(OUT_AREA);
  s->fd = fd;
  s->env = env;
  napi_create_reference(env, argv[4], 1, &s->onBatch);
  napi_create_reference(env, argv[5], 1, &s->onSendFailed);
  napi_value name;
  napi_create_string_utf8(env, "sipfleet:udp4", NAPI_AUTO_LENGTH, &name);
  napi_async_init(env, NULL, name, &s->context);
  uv_loop_t *loop;
  napi_get_uv_event_loop(env, &loop);
  uv_poll_init(loop, &s->poll, fd);
  s->poll.data = s;
  uv_poll_start(&s->poll, UV_READABLE, on_readable);
  uv_prepare_init(loop, &s->prepare);
  s->prepare.data = s;
  uv_prepare_start(&s->prepare, on_prepare);
  uv_unref((uv_handle_t *)&s->prepare); // the queue never keeps the process alive: close flushes it
  napi_value handle;
  napi_create_external(env, s, NULL, NULL, &handle);
  return handle;
}

/** port(handle) -> the bound port. */
static napi_value Port(napi_env env, napi_callback_info info) {
  size_t argc = 1;
  napi_value argv[1];
  napi_get_cb_info(env, info, &argc, argv, NULL, NULL);
  Socket *s = unwrap(env, argv[0]);
  struct sockaddr_in local;
  socklen_t len = sizeof local;
  if (s == NULL || getsockname(s->fd, (struct sockaddr *)&local, &len) != 0) return make_int(env, -1);
  return make_int(env, ntohs(local.sin_port));
}

/**
 * send(handle, data: Uint8Array, address: int32 IPv4, port) -> the datagram's index in the send
 * queue (0 starts a new queue), or -errno. Failures found when the queue goes out come later, to
 * onSendFailed, by index.
 */
static napi_value Send(napi_env env, napi_callback_info info) {
  size_t argc = 4;
  napi_value argv[4];
  napi_get_cb_info(env, info, &argc, argv, NULL, NULL);
  Socket *s = unwrap(env, argv[0]);
  void *data;
  size_t len;
  int32_t address, port;
  napi_get_buffer_info(env, argv[1], &data, &len);
  napi_get_value_int32(env, argv[2], &address);
  napi_get_value_int32(env, argv[3], &port);
  if (s == NULL || s->closed) return make_int(env, -EBADF);
  if (len > OUT_AREA) return make_int(env, -EMSGSIZE);
  if (s->outCount == OUT_BATCH || s->outUsed + len > OUT_AREA) flush(s, 1);
  int i = s->outCount++;
  char *at = s->outArea + s->outUsed;
  memcpy(at, data, len);
  s->outUsed += len;
  struct sockaddr_in *to = &s->to[i];
  memset(to, 0, sizeof *to);
  to->sin_family = AF_INET;
  to->sin_port = htons((uint16_t)port);
  to->sin_addr.s_addr = htonl((uint32_t)address);
  s->outIov[i].iov_base = at;
  s->outIov[i].iov_len = len;
  memset(&s->out[i].msg_hdr, 0, sizeof(struct msghdr));
  s->out[i].msg_hdr.msg_iov = &s->outIov[i];
  s->out[i].msg_hdr.msg_iovlen = 1;
  s->out[i].msg_hdr.msg_name = to;
  s->out[i].msg_hdr.msg_namelen = sizeof *to;
  return make_int(env, i);
}

static void on_prepare_closed(uv_handle_t *handle) {
  Socket *s = handle->data;
  // Here, not in Close: Close may run inside onBatch, while the context and callbacks are in use.
  napi_delete_reference(s->env, s->onBatch);
  napi_delete_reference(s->env, s->onSendFailed);
  napi_async_destroy(s->env, s->context);
  free(s->area);
  free(s->outArea);
  free(s);
}

static void on_closed(uv_handle_t *handle) {
  Socket *s = handle->data;
  uv_close((uv_handle_t *)&s->prepare, on_prepare_closed);
}

/** close(handle): sends what is queued and stops reading now; the memory goes when libuv has let go of the handles. */
static napi_value Close(napi_env env, napi_callback_info info) {
  size_t argc = 1;
  napi_value argv[1];
  napi_get_cb_info(env, info, &argc, argv, NULL, NULL);
  Socket *s = unwrap(env, argv[0]);
  if (s == NULL || s->closed) return NULL;
  s->closed = 1; // first: onSendFailed may call close or send again
  if (s->outCount > 0) flush(s, 1);
  uv_poll_stop(&s->poll);
  uv_prepare_stop(&s->prepare);
  close(s->fd);
  uv_close((uv_handle_t *)&s->poll, on_closed);
  return NULL;
}

static napi_value Init(napi_env env, napi_value exports) {
  napi_property_descriptor fns[] = {
      {"open", NULL, Open, NULL, NULL, NULL, napi_default, NULL},
      {"port", NULL, Port, NULL, NULL, NULL, napi_default, NULL},
      {"send", NULL, Send, NULL, NULL, NULL, napi_default, NULL},
      {"close", NULL, Close, NULL, NULL, NULL, napi_default, NULL},
  };
  napi_define_properties(env, exports, 4, fns);
  return exports;
}

NAPI_MODULE(NODE_GYP_MODULE_NAME, Init)
