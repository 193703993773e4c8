/** dromos's own version, as `dromos --version` and the version endpoints of its parts give it. */
export const DROMOS_VERSION = '0.1.0'
