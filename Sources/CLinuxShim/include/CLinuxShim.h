#ifndef PHOTOCLOUD_CLINUXSHIM_H
#define PHOTOCLOUD_CLINUXSHIM_H
// The Linux calls Glibc does not export to Swift: epoll, eventfd, recvmmsg and
// sendmmsg (and their mmsghdr), plus small helpers to build socket addresses.
//
// This header includes no system header (they would clash with Glibc's module
// when compiled with _GNU_SOURCE); shim.c defines _GNU_SOURCE and does the calls.
#include <stdint.h>
#include <stddef.h>

typedef struct clinux_epoll_event {
    uint32_t events;
    uint64_t data;
} clinux_epoll_event;

extern const uint32_t clinux_EPOLLIN;
extern const uint32_t clinux_EPOLLOUT;
extern const uint32_t clinux_EPOLLERR;
extern const uint32_t clinux_EPOLLHUP;
extern const uint32_t clinux_EPOLLET;
extern const int clinux_EPOLL_CTL_ADD;
extern const int clinux_EPOLL_CTL_MOD;
extern const int clinux_EPOLL_CTL_DEL;

int clinux_epoll_create(void);
int clinux_epoll_ctl(int epfd, int op, int fd, uint32_t events, uint64_t data);
/// Waits for up to `max` events; returns their count or -1 with errno set.
int clinux_epoll_wait(int epfd, clinux_epoll_event *events, int max, int timeout_ms);

int clinux_eventfd(void);
int clinux_eventfd_signal(int fd);
int clinux_eventfd_drain(int fd);

/// One datagram of a batch: the caller's buffer, its length, the peer address.
typedef struct clinux_datagram {
    void *base;
    size_t length;          /* in: capacity (receive) or size (send); out: bytes received */
    /* a struct sockaddr_storage (128 bytes, 8-aligned) and its length */
    uint64_t address[16];
    uint32_t address_length;
    int truncated;          /* out: the datagram did not fit in the buffer */
} clinux_datagram;

/// sendmmsg over `count` datagrams; returns how many were sent or -1 with errno.
int clinux_sendmmsg(int fd, clinux_datagram *datagrams, unsigned count);
/// recvmmsg (nonblocking) into `count` datagrams; returns how many arrived or -1 with errno.
int clinux_recvmmsg(int fd, clinux_datagram *datagrams, unsigned count);

/// A close-on-exec UDP socket of `family` (AF_INET or AF_INET6), nonblocking unless `blocking`.
int clinux_udp_socket(int family, int blocking);
/// accept4 with SOCK_CLOEXEC (a GNU call): the connection's descriptor is not inherited by children.
int clinux_accept_cloexec(int fd);
/// Sets SO_RCVTIMEO on a blocking socket.
int clinux_set_receive_timeout(int fd, int milliseconds);

/// Pins the calling thread to the `index`th CPU it may run on; returns 0 or -1 with errno.
int clinux_pin_current_thread(int index);
/// CPUs this process may run on (at least 1).
int clinux_available_cpus(void);
/// Sets the nice value of the calling thread only (Linux threads have their own); 0 or -1 with errno.
int clinux_set_current_thread_nice(int nice);

#endif
