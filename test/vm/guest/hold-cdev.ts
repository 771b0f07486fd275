/**
 * Holds a VFIO device the way a VMM does: opens its cdev and binds it to an iommufd (which
 * claims DMA ownership of its group), writes "held" to the file named by argv[3], and waits to
 * be killed. The set-type test uses it to make the kernel itself refuse with EPERM.
 * Usage: node --import tsx test/vm/guest/hold-cdev.ts /dev/vfio/devices/vfioN READY_FILE
 */
import * as fs from 'node:fs'

import {Iommufd} from '../../../src/iommufd/iommufd.js'
import {VfioCdev} from '../../../src/vfio/cdev.js'

const iommufd = Iommufd.open()
const cdev = VfioCdev.open(process.argv[2]!)
cdev.bind(iommufd)
fs.writeFileSync(process.argv[3]!, 'held\n')
setInterval(() => {}, 1 << 30)
