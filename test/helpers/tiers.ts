// `npm test` runs every case. `npm run test:fast` (IOMMUCTL_TEST_TIER=fast) leaves out the
// exhaustive ones, which repeat a path the fast tier already covers at a volume that costs minutes
// of CPU (hundreds of thousands of tar entries, hundreds of MiB through gzip): a case marked
// `{skip: exhaustive}` is reported as skipped there, with this reason.
export const exhaustive =
  process.env.IOMMUCTL_TEST_TIER === 'fast'
    ? 'exhaustive: `npm test` runs it, `npm run test:fast` does not'
    : false
