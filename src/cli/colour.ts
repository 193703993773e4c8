// Colour for a terminal, and only for one: never in a pipe or a file, never with NO_COLOR
// (https://no-color.org), always with FORCE_COLOR (as chalk and node read it).

/** Whether to colour what goes to a stream with `isTTY`, given the environment. */
export function colourEnabled(stream: { readonly isTTY?: boolean }, env: Readonly<Record<string, string | undefined>>): boolean {
  if (env.NO_COLOR !== undefined && env.NO_COLOR !== '') return false
  if (env.FORCE_COLOR !== undefined) return env.FORCE_COLOR !== '0' && env.FORCE_COLOR !== 'false'
  if (env.TERM === 'dumb') return false
  return stream.isTTY === true
}

// SGR codes and their resets; a few, written out, rather than a library for four styles.
const SGR = { bold: [1, 22], green: [32, 39], yellow: [33, 39], red: [31, 39] } as const
type Style = keyof typeof SGR

/** How a table paints: its header, and each cell by its column's header. */
export interface Colours {
  readonly enabled: boolean
  readonly header: (text: string) => string
  readonly cell: (text: string, column: string) => string
}

const BAD = new Set(['TASK_FAILED', 'TASK_ERROR', 'TASK_LOST', 'TASK_DROPPED', 'TASK_GONE', 'TASK_GONE_BY_OPERATOR', 'TASK_UNREACHABLE', 'unhealthy', 'no'])
const GOOD = new Set(['TASK_RUNNING', 'TASK_FINISHED', 'healthy', 'yes'])
const BUSY = new Set(['TASK_STAGING', 'TASK_STARTING', 'TASK_KILLING'])

/** The style of a cell: states and health by what they mean, "n/m" counts by whether n reached m. */
export function cellStyle(text: string, column: string): Style | undefined {
  if (GOOD.has(text)) return 'green'
  if (BAD.has(text)) return 'red'
  if (BUSY.has(text)) return 'yellow'
  if (column === 'INSTANCES' || column === 'HEALTHY') {
    const m = /^(\d+)\/(\d+)$/.exec(text)
    if (m) return m[1] === m[2] ? 'green' : 'yellow'
    if (/ old$/.test(text)) return 'yellow'
  }
  return undefined
}

const plain: Colours = { enabled: false, header: (t) => t, cell: (t) => t }

export function coloursFor(stream: { readonly isTTY?: boolean }, env: Readonly<Record<string, string | undefined>>): Colours {
  if (!colourEnabled(stream, env)) return plain
  const paint = (style: Style, text: string): string => `\x1b[${SGR[style][0]}m${text}\x1b[${SGR[style][1]}m`
  return {
    enabled: true,
    header: (t) => paint('bold', t),
    cell: (t, column) => {
      const style = cellStyle(t, column)
      return style ? paint(style, t) : t
    },
  }
}
