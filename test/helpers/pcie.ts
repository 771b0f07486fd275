import {PciConfig} from '../../src/decode/pcie.js'

/** The decoded capabilities of a PciConfig, for comparing whole sets at once. */
export const NO_CAPS = {express: null, acs: null, ats: null, pri: null, pasid: null, ari: null, sriov: null}

export const pickCaps = (c: PciConfig) => ({
  express: c.express,
  acs: c.acs,
  ats: c.ats,
  pri: c.pri,
  pasid: c.pasid,
  ari: c.ari,
  sriov: c.sriov,
})
