/*
 * What this machine charges for memory a process touches for the first time.
 *
 * paystorm's large runs touch hundreds of MiB of fresh memory, and on some
 * VMs (here: KVM with virtio-balloon free page reporting) the host takes
 * back free guest memory within about a second, so a fresh transparent huge
 * page costs a host fault per 4 KiB behind it: 450-520 MB/s on this VM,
 * against 11 GB/s for a huge page freed a moment earlier. That cost lands
 * in the kernel's clear_page_erms in a profile, and in "system" time.
 *
 *   gcc -O2 -o /tmp/first_touch benches/first_touch.c
 *   /tmp/first_touch         # 4 KiB pages, three rounds of 1 GiB
 *   /tmp/first_touch huge    # madvise(MADV_HUGEPAGE), as mimalloc does
 *   sleep 5; /tmp/first_touch huge   # the first round cold again
 *
 * The first round of a process pays for cold memory; the later rounds reuse
 * what the round before freed.
 */
#include <stdio.h>
#include <string.h>
#include <sys/mman.h>
#include <time.h>

static double now(void) {
  struct timespec t;
  clock_gettime(CLOCK_MONOTONIC, &t);
  return t.tv_sec + t.tv_nsec * 1e-9;
}

int main(int argc, char **argv) {
  const size_t n = (size_t)1 << 30;
  const int huge = argc > 1;
  for (int round = 1; round <= 3; round++) {
    char *p = mmap(0, n, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
    if (p == MAP_FAILED) {
      perror("first_touch: mmap of 1 GiB");
      return 1;
    }
    if (huge) madvise(p, n, MADV_HUGEPAGE);
    double t0 = now();
    for (size_t i = 0; i < n; i += 4096) p[i] = 1;
    double t1 = now();
    memset(p, 2, n);
    double t2 = now();
    printf("%s pages, round %d: first touch of 1 GiB %.3f s (%.0f MB/s); writing it again %.3f s\n",
           huge ? "huge" : "4 KiB", round, t1 - t0, n / 1e6 / (t1 - t0), t2 - t1);
    munmap(p, n);
  }
  return 0;
}
