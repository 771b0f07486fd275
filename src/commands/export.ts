import * as path from 'node:path'
import {Flags} from '@oclif/core'

import {BaseCommand} from '../base-command.js'
import {ExitCode, IommuctlError} from '../errors.js'
import {ExportFormat, ExportWritten, HostExport, readExport} from '../model/export.js'
import {writeTextFile} from '../output.js'
import {renderNfd} from '../render/nfd.js'
import {renderPrometheus} from '../render/prometheus.js'

export default class Export extends BaseCommand<typeof Export> {
  static description = `One document for fleet tools, read through the same models as status, units, groups, devices and faults (the kernel log: the live /dev/kmsg, or the copy a snapshot keeps under --root).

prometheus: node_exporter's textfile collector format, a HELP and a TYPE line for every metric: iommuctl_iommu_present, iommuctl_iommu_mode{mode}, iommuctl_units{kind}, iommuctl_unit_feature{unit,kind,feature}, iommuctl_groups{type,viable}, iommuctl_vfio_devices, iommuctl_vfio_device{bdf,driver,group}, iommuctl_status_ready, iommuctl_status_check_passed{check}, iommuctl_status_check_failed{check}, iommuctl_faults_log_read and iommuctl_faults_total{bdf,kind,reason}.

nfd: a node-feature-discovery feature file for /etc/kubernetes/node-feature-discovery/features.d/, labels under feature.node.kubernetes.io/iommuctl.: enabled, mode, unit.KIND, scalable-mode, pasid, nesting, dirty-tracking, interrupt-remapping (every unit offers it), interrupt-remapping-in-use, vfio-viable-groups (viable groups with a device on a VFIO driver). A feature no unit's registers show is left out.

ansible: the JSON document (features, status, units, groups, devices, faults; schemas/export.json) for an Ansible local fact: contrib/iommuctl.fact prints it.

-o writes a temporary file beside FILE and renames it over FILE, so a collector never reads half a file; it never writes through a symlink, and replaces an existing regular file only with --force.

Exit status: 0 when the export was written (whatever the checks say), 1 when it could not be, 2 for a usage error.`

  static examples = [
    {
      command:
        '<%= config.bin %> <%= command.id %> --format prometheus -o /var/lib/prometheus/node-exporter/iommuctl.prom --force',
      description:
        "From cron: refresh node_exporter's textfile collector (its --collector.textfile.directory).",
    },
    {
      command:
        '<%= config.bin %> <%= command.id %> --format nfd -o /etc/kubernetes/node-feature-discovery/features.d/iommuctl --force',
      description: 'Node labels for Kubernetes through node-feature-discovery.',
    },
    {
      command:
        'sudo install -D -m 755 contrib/iommuctl.fact /etc/ansible/facts.d/iommuctl.fact && ansible localhost -m setup -a filter=ansible_local',
      description: 'The Ansible local fact (ansible_local.iommuctl).',
    },
    {
      command: '<%= config.bin %> <%= command.id %> --format ansible --root host.tar.gz | jq .features',
      description: "What a customer's snapshot offers, in one object.",
    },
  ]

  static flags = {
    force: Flags.boolean({default: false, summary: 'Replace FILE if it exists (a regular file only).'}),
    format: Flags.string({
      options: ['prometheus', 'nfd', 'ansible'],
      required: true,
      summary: 'What to write.',
    }),
    output: Flags.string({
      char: 'o',
      summary: 'Write to FILE (atomically) instead of stdout.',
      helpValue: 'FILE',
    }),
  }

  static summary = 'Export the host for Prometheus (textfile collector), node-feature-discovery or Ansible.'

  async run(): Promise<ExportWritten | HostExport> {
    const {force, output} = this.flags
    const format = this.flags.format as ExportFormat
    if (output === undefined && this.jsonEnabled()) {
      throw new IommuctlError('USAGE', 'Without -o the export goes to stdout, where --json would also go.', {
        exit: ExitCode.usage,
        suggestion: 'Write the export with -o FILE (--json then says where it went), or drop --json.',
      })
    }
    const document = await readExport(this.root, `${this.config.bin} ${this.config.version}`)
    const text =
      format === 'prometheus'
        ? renderPrometheus(document)
        : format === 'nfd'
          ? renderNfd(document)
          : JSON.stringify(document, null, 2) + '\n'
    if (output === undefined) {
      process.stdout.write(text)
      return document
    }
    const file = path.resolve(output)
    await writeTextFile(file, text, {
      force,
      kind: {what: 'the export', suggestion: 'Choose an output in a directory you can write with -o FILE.'},
    })
    const written: ExportWritten = {format, output: file, bytes: Buffer.byteLength(text)}
    if (!this.jsonEnabled()) this.log(`wrote ${written.bytes} bytes (${format}) to ${file}`)
    return written
  }
}
