// The flags shared by the commands that start a hand-off child (exec, fds receive).
import {Flags} from '@oclif/core'

export const MEMLOCK_HELP = `RLIMIT_MEMLOCK the child gets (K, M, G or unlimited). A VMM pins all of its guest's RAM for device DMA, plus what it maps besides (ROMs, and with a vIOMMU in the guest every mapping the guest makes, up to its RAM again): give guest RAM plus a margin (QEMU 10 with 64 MiB of guest RAM pinned 64 MiB + 256 KiB: 64M was short, 65M enough). Too small shows up as the VMM's ENOMEM when it maps.`

export const childFlags = {
  'cloud-hypervisor': Flags.boolean({
    exclusive: ['qemu'],
    summary: 'Append --platform iommufd_fd=3 and one --device fd=N per device to the command.',
  }),
  group: Flags.string({
    dependsOn: ['user'],
    multiple: true,
    summary: 'A supplementary group of the child (repeat; /dev/kvm needs kvm).',
  }),
  memlock: Flags.string({
    summary: 'RLIMIT_MEMLOCK of the child (e.g. 4G): guest RAM plus a margin.',
    description: MEMLOCK_HELP,
  }),
  qemu: Flags.boolean({
    summary:
      'Append -object iommufd,id=iommufd0,fd=3 and one -device vfio-pci,iommufd=iommufd0,fd=N per device.',
  }),
  user: Flags.string({summary: 'Run the child as this user (name or uid), through setpriv.'}),
}
