// A VFIO device through its cdev (/dev/vfio/devices/vfioN), bound to an iommufd. One owner of
// the descriptor; close() detaches first, as rust-vmm's VfioDevice does, but never throws.
import {closeQuietly, ioctlStruct, openDevice} from '../native/ioctl.js'
import * as V from '../native/uapi/vfio.js'

export interface DeviceInfo {
  flags: number
  numRegions: number
  numIrqs: number
}

export class VfioCdev {
  private closed = false
  private attached = new Set<number | null>()
  devId: number | null = null

  private constructor(
    readonly path: string,
    readonly fd: number,
  ) {}

  static open(path: string): VfioCdev {
    return new VfioCdev(path, openDevice(path))
  }

  /** VFIO_DEVICE_BIND_IOMMUFD: the device joins the iommufd's object table; returns its dev id. */
  bind(iommufd: {readonly fd: number}): number {
    const out = ioctlStruct(
      this.fd,
      'VFIO_DEVICE_BIND_IOMMUFD',
      V.VFIO_DEVICE_BIND_IOMMUFD,
      V.vfio_device_bind_iommufd,
      {iommufd: iommufd.fd},
    )
    this.devId = out.out_devid
    return out.out_devid
  }

  /** Attaches the device (or one PASID of it) to an IOAS or HWPT; returns the page table id in use. */
  attach(ptId: number, pasid?: number): number {
    const op =
      pasid === undefined
        ? 'VFIO_DEVICE_ATTACH_IOMMUFD_PT'
        : `VFIO_DEVICE_ATTACH_IOMMUFD_PT of PASID ${pasid}`
    const out = ioctlStruct(this.fd, op, V.VFIO_DEVICE_ATTACH_IOMMUFD_PT, V.vfio_device_attach_iommufd_pt, {
      flags: pasid === undefined ? 0 : V.VFIO_DEVICE_ATTACH_PASID,
      pt_id: ptId,
      pasid: pasid ?? 0,
    })
    this.attached.add(pasid ?? null)
    return out.pt_id
  }

  detach(pasid?: number): void {
    const op =
      pasid === undefined
        ? 'VFIO_DEVICE_DETACH_IOMMUFD_PT'
        : `VFIO_DEVICE_DETACH_IOMMUFD_PT of PASID ${pasid}`
    ioctlStruct(this.fd, op, V.VFIO_DEVICE_DETACH_IOMMUFD_PT, V.vfio_device_detach_iommufd_pt, {
      flags: pasid === undefined ? 0 : V.VFIO_DEVICE_DETACH_PASID,
      pasid: pasid ?? 0,
    })
    this.attached.delete(pasid ?? null)
  }

  info(): DeviceInfo {
    return deviceInfo(this.fd)
  }

  /** Detaches whatever is attached, then closes. Idempotent; never throws. */
  close(): void {
    if (this.closed) return
    this.closed = true
    for (const pasid of [...this.attached]) {
      try {
        this.detach(pasid ?? undefined)
      } catch {
        // Closing the descriptor detaches too; a failed detach must not stop that.
      }
    }
    closeQuietly(this.fd)
  }
}

/** VFIO_DEVICE_GET_INFO on any device descriptor: a cdev, or one from VFIO_GROUP_GET_DEVICE_FD. */
export function deviceInfo(fd: number): DeviceInfo {
  const out = ioctlStruct(fd, 'VFIO_DEVICE_GET_INFO', V.VFIO_DEVICE_GET_INFO, V.vfio_device_info)
  return {flags: out.flags, numRegions: out.num_regions, numIrqs: out.num_irqs}
}
