// The C reference for bench/map.ts: maps and unmaps a 1 GiB buffer into an IOAS chunk by chunk,
// exactly as bench/map-guest.ts does through the tool's native layer, and prints one JSON object.
// Built by bench/map.ts against the test kernel's UAPI headers and run in the same boot.
//
// Usage: map [--device /dev/vfio/devices/vfioN] [--calls N] [--trivial-only] CHUNK:REPS[:BYTES] ...
//   CHUNK: bytes per IOMMU_IOAS_MAP / IOMMU_IOAS_UNMAP; REPS: passes; BYTES: how much of the
//   buffer a pass covers, from its start (default all of it, 1 GiB).
//   --device: bind that VFIO cdev to the iommufd and attach it to the IOAS, so every map pins
//   the pages and writes the IOMMU's page table (without one, the IOAS has no domain and the
//   kernel only records the range; it pins nothing).
//   --calls: iterations of the trivial-call loops (ioctl on /dev/null, getpid).
//   --trivial-only: only those loops (no /dev/iommu needed: bench/map.ts runs them on the host).
//
// The buffer is mmap'd with MAP_POPULATE, so no page fault happens inside the timed loops.
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/mman.h>
#include <sys/syscall.h>
#include <time.h>
#include <unistd.h>
#include <linux/iommufd.h>
#include <linux/vfio.h>

#define BUFFER_SIZE (1ULL << 30)
#define IOVA_BASE (1ULL << 32)

static uint64_t now_ns(void) {
  struct timespec ts;
  clock_gettime(CLOCK_MONOTONIC, &ts);
  return (uint64_t)ts.tv_sec * 1000000000ULL + (uint64_t)ts.tv_nsec;
}

static void fail(const char *what) {
  printf("{\"error\": \"%s: %s\"}\n", what, strerror(errno));
  exit(1);
}

/** VmPin and VmLck of this process, in KiB, from /proc/self/status. */
static void pinned(long *pin, long *lck) {
  char line[256];
  FILE *f = fopen("/proc/self/status", "r");
  *pin = *lck = -1;
  if (!f) return;
  while (fgets(line, sizeof(line), f)) {
    if (!strncmp(line, "VmPin:", 6)) *pin = strtol(line + 6, NULL, 10);
    if (!strncmp(line, "VmLck:", 6)) *lck = strtol(line + 6, NULL, 10);
  }
  fclose(f);
}

/** Opens /dev/iommu and allocates an IOAS, with the device attached when one is given. */
static int open_ioas(const char *device, uint32_t *ioas) {
  int iommufd = open("/dev/iommu", O_RDWR | O_CLOEXEC);
  if (iommufd < 0) fail("open /dev/iommu");
  struct iommu_ioas_alloc alloc = {.size = sizeof(alloc)};
  if (ioctl(iommufd, IOMMU_IOAS_ALLOC, &alloc)) fail("IOMMU_IOAS_ALLOC");
  *ioas = alloc.out_ioas_id;
  if (!device) return iommufd;
  int dev = open(device, O_RDWR | O_CLOEXEC);
  if (dev < 0) fail("open device");
  struct vfio_device_bind_iommufd bind = {.argsz = sizeof(bind), .iommufd = iommufd};
  if (ioctl(dev, VFIO_DEVICE_BIND_IOMMUFD, &bind)) fail("VFIO_DEVICE_BIND_IOMMUFD");
  struct vfio_device_attach_iommufd_pt attach = {.argsz = sizeof(attach), .pt_id = *ioas};
  if (ioctl(dev, VFIO_DEVICE_ATTACH_IOMMUFD_PT, &attach)) fail("VFIO_DEVICE_ATTACH_IOMMUFD_PT");
  return iommufd; // dev stays open (and attached) until the process exits
}

/** REPS passes over BYTES of buf in CHUNK-sized maps, then unmaps; prints one JSON object. */
static void passes(int iommufd, uint32_t ioas, uint8_t *buf, const char *spec, int first) {
  char *end;
  unsigned long long chunk = strtoull(spec, &end, 0);
  int reps = *end == ':' ? (int)strtol(end + 1, &end, 10) : 1;
  unsigned long long bytes = *end == ':' ? strtoull(end + 1, &end, 0) : BUFFER_SIZE;
  if (*end || chunk == 0 || bytes > BUFFER_SIZE || bytes % chunk || reps < 1) exit(2);
  uint64_t n = bytes / chunk;
  uint64_t *map_ns = calloc(reps, sizeof(uint64_t));
  uint64_t *unmap_ns = calloc(reps, sizeof(uint64_t));
  long pin = -1, lck = -1;
  for (int r = 0; r < reps; r++) {
    struct iommu_ioas_map map = {
        .size = sizeof(map),
        .flags = IOMMU_IOAS_MAP_FIXED_IOVA | IOMMU_IOAS_MAP_READABLE | IOMMU_IOAS_MAP_WRITEABLE,
        .ioas_id = ioas,
        .length = chunk,
    };
    uint64_t start = now_ns();
    for (uint64_t i = 0; i < n; i++) {
      map.user_va = (uintptr_t)buf + i * chunk;
      map.iova = IOVA_BASE + i * chunk;
      if (ioctl(iommufd, IOMMU_IOAS_MAP, &map)) fail("IOMMU_IOAS_MAP");
    }
    map_ns[r] = now_ns() - start;
    if (r == 0) pinned(&pin, &lck); // while everything is mapped, outside the timed loops
    struct iommu_ioas_unmap unmap = {.size = sizeof(unmap), .ioas_id = ioas};
    start = now_ns();
    for (uint64_t i = 0; i < n; i++) {
      unmap.iova = IOVA_BASE + i * chunk;
      unmap.length = chunk; // the kernel writes back the length it unmapped
      if (ioctl(iommufd, IOMMU_IOAS_UNMAP, &unmap)) fail("IOMMU_IOAS_UNMAP");
    }
    unmap_ns[r] = now_ns() - start;
  }
  printf("%s{\"chunk\": %llu, \"bytes\": %llu, \"ioctls\": %llu, \"vmPinKiB\": %ld, \"vmLckKiB\": %ld",
         first ? "" : ", ", chunk, bytes, (unsigned long long)n, pin, lck);
  for (int k = 0; k < 2; k++) {
    uint64_t *ns = k ? unmap_ns : map_ns;
    printf(k ? "], \"unmapNs\": [" : ", \"mapNs\": [");
    for (int r = 0; r < reps; r++) printf("%s%llu", r ? ", " : "", (unsigned long long)ns[r]);
  }
  printf("]}");
  fflush(stdout);
  free(map_ns);
  free(unmap_ns);
}

/** The kernel's cost of syscalls that do nothing: the base under an FFI call's overhead. */
static void trivial(long calls) {
  int null = open("/dev/null", O_RDWR | O_CLOEXEC);
  if (null < 0) fail("open /dev/null");
  uint64_t arg = 0;
  uint64_t start = now_ns();
  for (long i = 0; i < calls; i++)
    if (ioctl(null, IOMMU_IOAS_MAP, &arg) != -1 || errno != ENOTTY) fail("ioctl /dev/null");
  uint64_t enotty = now_ns() - start;
  long sum = 0;
  start = now_ns();
  for (long i = 0; i < calls; i++) sum += syscall(SYS_getpid);
  uint64_t getpid = now_ns() - start;
  close(null);
  printf("\"trivial\": {\"calls\": %ld, \"enottyNs\": %llu, \"getpidNs\": %llu, \"pid\": %ld}", calls,
         (unsigned long long)enotty, (unsigned long long)getpid, sum / calls);
}

int main(int argc, char **argv) {
  const char *device = NULL;
  long calls = 20000;
  int trivial_only = 0;
  int first = 1;
  for (; first < argc && !strncmp(argv[first], "--", 2); first++) {
    if (!strcmp(argv[first], "--trivial-only")) trivial_only = 1;
    else if (!strcmp(argv[first], "--device") && first + 1 < argc) device = argv[++first];
    else if (!strcmp(argv[first], "--calls") && first + 1 < argc) calls = atol(argv[++first]);
    else return 2;
  }
  printf("{\"impl\": \"c\", \"device\": %s%s%s, ", device ? "\"" : "", device ? device : "null", device ? "\"" : "");
  if (!trivial_only) {
    if (first >= argc) return 2;
    uint32_t ioas;
    int iommufd = open_ioas(device, &ioas);
    uint64_t start = now_ns();
    uint8_t *buf =
        mmap(NULL, BUFFER_SIZE, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS | MAP_POPULATE, -1, 0);
    if (buf == MAP_FAILED) fail("mmap");
    printf("\"populateNs\": %llu, \"chunks\": [", (unsigned long long)(now_ns() - start));
    for (int a = first; a < argc; a++) passes(iommufd, ioas, buf, argv[a], a == first);
    printf("], ");
    munmap(buf, BUFFER_SIZE);
    close(iommufd);
  }
  trivial(calls);
  printf("}\n");
  return 0;
}
