// Reference for `iommuctl hw-info`: binds a VFIO cdev to a fresh iommufd and prints what
// IOMMU_GET_HW_INFO returns, as JSON, using the kernel's own UAPI headers. Built by the VM
// tests against the test kernel's headers and run in the same boot as the tool.
// Usage: hwinfo /dev/vfio/devices/vfioN [SECONDS]   (SECONDS: then hold the bound device that long)
#include <fcntl.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <errno.h>
#include <sys/ioctl.h>
#include <unistd.h>
#include <linux/iommufd.h>
#include <linux/vfio.h>

int main(int argc, char **argv) {
  if (argc != 2 && argc != 3) return 2;
  int iommufd = open("/dev/iommu", O_RDWR);
  int dev = open(argv[1], O_RDWR);
  if (iommufd < 0 || dev < 0) { printf("{\"error\": \"open: %s\"}\n", strerror(errno)); return 1; }
  struct vfio_device_bind_iommufd bind = {.argsz = sizeof(bind), .iommufd = iommufd};
  if (ioctl(dev, VFIO_DEVICE_BIND_IOMMUFD, &bind)) { printf("{\"error\": \"bind: %s\"}\n", strerror(errno)); return 1; }
  uint8_t data[256] = {0};
  struct iommu_hw_info info = {.size = sizeof(info), .dev_id = bind.out_devid, .data_len = sizeof(data), .data_uptr = (uintptr_t)data};
  if (ioctl(iommufd, IOMMU_GET_HW_INFO, &info)) { printf("{\"error\": \"hw_info: %s\"}\n", strerror(errno)); return 1; }
  printf("{\"devId\": %u, \"type\": %u, \"dataLen\": %u, \"capabilities\": \"0x%llx\", \"maxPasidLog2\": %u",
         bind.out_devid, info.out_data_type, info.data_len, (unsigned long long)info.out_capabilities,
         info.out_max_pasid_log2);
  if (info.out_data_type == IOMMU_HW_INFO_TYPE_INTEL_VTD) {
    struct iommu_hw_info_vtd *vtd = (void *)data;
    printf(", \"flags\": \"0x%x\", \"cap\": \"0x%llx\", \"ecap\": \"0x%llx\"", vtd->flags,
           (unsigned long long)vtd->cap_reg, (unsigned long long)vtd->ecap_reg);
  }
  printf("}\n");
  fflush(stdout);
  if (argc == 3) sleep(atoi(argv[2]));
  return 0;
}
