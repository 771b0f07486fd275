/** One file `host install-boot` or `uninstall-boot` is about. */
export interface BootFile {
  path: string
  status: 'written' | 'unchanged' | 'removed' | 'absent'
}

/** What `host install-boot` and `host uninstall-boot` did (schemas/host-boot.json). */
export interface BootRecord {
  action: 'install' | 'uninstall'
  files: BootFile[]
  /** What to run next (systemctl, udevadm). */
  next: string
}
