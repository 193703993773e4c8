// Reading HTTP answers in cross-process tests: the body as text, and as JSON when it parses.

type Json = any // eslint-disable-line @typescript-eslint/no-explicit-any

export interface ReadResponse {
  status: number
  /** The Content-Type header, '' when absent. */
  type: string
  text: string
  /** The body parsed as JSON; undefined when it is not JSON. */
  json: Json
}

export async function readResponse(r: Response): Promise<ReadResponse> {
  const text = await r.text()
  let json: Json
  try {
    json = JSON.parse(text)
  } catch {
    json = undefined
  }
  return { status: r.status, type: r.headers.get('content-type') ?? '', text, json }
}
