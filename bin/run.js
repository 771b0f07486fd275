#!/usr/bin/env node
// @oclif/core checks its own engines range with semver as it is imported, which loads some 50
// modules: 4-6 ms of every start (bench/startup.js). Skip it, and leave the environment
// that commands and their children (apply --exec) see as it was.
const engineWarning = process.env.OCLIF_DISABLE_ENGINE_WARNING
process.env.OCLIF_DISABLE_ENGINE_WARNING = 'true'
const {execute} = await import('@oclif/core')
if (engineWarning === undefined) delete process.env.OCLIF_DISABLE_ENGINE_WARNING
else process.env.OCLIF_DISABLE_ENGINE_WARNING = engineWarning

await execute({dir: import.meta.url})
