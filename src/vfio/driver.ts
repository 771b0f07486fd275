/**
 * Whether a PCI driver is a VFIO driver: vfio-pci or one of its variant drivers (mlx5_vfio_pci,
 * hisi_acc_vfio_pci, nvgrace_gpu_vfio_pci, ...), named <vendor>_vfio_pci. VFIO takes a whole
 * group, and only a device on one of these has a vfio-dev cdev. No imports: sysfs/, model/ and
 * configure/ all ask this.
 */
export function isVfioDriver(name: string | null | undefined): name is string {
  return !!name && /^(?:[a-z0-9_-]+[_-])?vfio[_-]pci$/.test(name)
}
