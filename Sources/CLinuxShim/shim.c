#define _GNU_SOURCE
#include "CLinuxShim.h"
#include <sys/socket.h>
#include <sys/types.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/eventfd.h>
#include <sys/time.h>
#include <unistd.h>
#include <sched.h>
#include <sys/resource.h>
#include <sys/syscall.h>
#include <errno.h>

_Static_assert(sizeof(((clinux_datagram *)0)->address) >= sizeof(struct sockaddr_storage), "address storage too small");

const uint32_t clinux_EPOLLIN = EPOLLIN;
const uint32_t clinux_EPOLLOUT = EPOLLOUT;
const uint32_t clinux_EPOLLERR = EPOLLERR;
const uint32_t clinux_EPOLLHUP = EPOLLHUP;
const uint32_t clinux_EPOLLET = EPOLLET;
const int clinux_EPOLL_CTL_ADD = EPOLL_CTL_ADD;
const int clinux_EPOLL_CTL_MOD = EPOLL_CTL_MOD;
const int clinux_EPOLL_CTL_DEL = EPOLL_CTL_DEL;

int clinux_epoll_create(void) {
    return epoll_create1(EPOLL_CLOEXEC);
}

int clinux_epoll_ctl(int epfd, int op, int fd, uint32_t events, uint64_t data) {
    struct epoll_event event;
    memset(&event, 0, sizeof event);
    event.events = events;
    event.data.u64 = data;
    return epoll_ctl(epfd, op, fd, &event);
}

int clinux_epoll_wait(int epfd, clinux_epoll_event *events, int max, int timeout_ms) {
    struct epoll_event raw[256];
    if (max > 256) max = 256;
    int n = epoll_wait(epfd, raw, max, timeout_ms);
    for (int i = 0; i < n; i++) {
        events[i].events = raw[i].events;
        events[i].data = raw[i].data.u64;
    }
    return n;
}

int clinux_eventfd(void) {
    return eventfd(0, EFD_NONBLOCK | EFD_CLOEXEC);
}

int clinux_eventfd_signal(int fd) {
    uint64_t one = 1;
    ssize_t n = write(fd, &one, sizeof one);
    return n == (ssize_t)sizeof one ? 0 : -1;
}

int clinux_eventfd_drain(int fd) {
    uint64_t value;
    ssize_t n = read(fd, &value, sizeof value);
    return n == (ssize_t)sizeof value ? 0 : -1;
}

#define CLINUX_BATCH_MAX 64

/* Points one mmsghdr per datagram at its buffer and address. */
static unsigned fill_headers(struct mmsghdr *headers, struct iovec *vectors, clinux_datagram *datagrams,
                             unsigned count, int receiving) {
    if (count > CLINUX_BATCH_MAX) count = CLINUX_BATCH_MAX;
    memset(headers, 0, sizeof(struct mmsghdr) * count);
    for (unsigned i = 0; i < count; i++) {
        vectors[i].iov_base = datagrams[i].base;
        vectors[i].iov_len = datagrams[i].length;
        headers[i].msg_hdr.msg_iov = &vectors[i];
        headers[i].msg_hdr.msg_iovlen = 1;
        headers[i].msg_hdr.msg_name = &datagrams[i].address;
        headers[i].msg_hdr.msg_namelen = receiving ? sizeof datagrams[i].address : datagrams[i].address_length;
    }
    return count;
}

int clinux_sendmmsg(int fd, clinux_datagram *datagrams, unsigned count) {
    struct mmsghdr headers[CLINUX_BATCH_MAX];
    struct iovec vectors[CLINUX_BATCH_MAX];
    count = fill_headers(headers, vectors, datagrams, count, 0);
    return sendmmsg(fd, headers, count, MSG_DONTWAIT);
}

int clinux_recvmmsg(int fd, clinux_datagram *datagrams, unsigned count) {
    struct mmsghdr headers[CLINUX_BATCH_MAX];
    struct iovec vectors[CLINUX_BATCH_MAX];
    count = fill_headers(headers, vectors, datagrams, count, 1);
    int n = recvmmsg(fd, headers, count, MSG_DONTWAIT, NULL);
    for (int i = 0; i < n; i++) {
        datagrams[i].length = headers[i].msg_len;
        datagrams[i].address_length = headers[i].msg_hdr.msg_namelen;
        datagrams[i].truncated = (headers[i].msg_hdr.msg_flags & MSG_TRUNC) != 0;
    }
    return n;
}

int clinux_udp_socket(int family, int blocking) {
    return socket(family, SOCK_DGRAM | SOCK_CLOEXEC | (blocking ? 0 : SOCK_NONBLOCK), 0);
}

int clinux_accept_cloexec(int fd) {
    return accept4(fd, NULL, NULL, SOCK_CLOEXEC);
}

int clinux_set_receive_timeout(int fd, int milliseconds) {
    struct timeval tv;
    tv.tv_sec = milliseconds / 1000;
    tv.tv_usec = (milliseconds % 1000) * 1000;
    return setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof tv);
}

int clinux_pin_current_thread(int index) {
    cpu_set_t allowed, set;
    CPU_ZERO(&allowed);
    if (sched_getaffinity(0, sizeof(allowed), &allowed) != 0) return -1;
    int seen = 0;
    for (int cpu = 0; cpu < CPU_SETSIZE; cpu++) {
        if (!CPU_ISSET(cpu, &allowed)) continue;
        if (seen++ == index) {
            CPU_ZERO(&set);
            CPU_SET(cpu, &set);
            return sched_setaffinity(0, sizeof(set), &set);
        }
    }
    errno = EINVAL;
    return -1;
}

int clinux_available_cpus(void) {
    cpu_set_t set;
    CPU_ZERO(&set);
    if (sched_getaffinity(0, sizeof(set), &set) != 0) return 1;
    int count = CPU_COUNT(&set);
    return count > 0 ? count : 1;
}

int clinux_set_current_thread_nice(int nice) {
    return setpriority(PRIO_PROCESS, (id_t)syscall(SYS_gettid), nice);
}
