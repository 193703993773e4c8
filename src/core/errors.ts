// Errors carry data; one mapper per HTTP surface turns `status` into a response.

export class DromosError extends Error {
  readonly status: number
  readonly code: string
  constructor(code: string, status: number, message: string) {
    super(message)
    this.code = code
    this.status = status
  }
}

export class BadRequestError extends DromosError {
  constructor(message: string) {
    super('BAD_REQUEST', 400, message)
  }
}

export class PayloadTooLargeError extends DromosError {
  constructor(readonly limitBytes: number) {
    super('PAYLOAD_TOO_LARGE', 413, `Request body is larger than ${limitBytes} bytes`)
  }
}

export class ForbiddenError extends DromosError {
  constructor(message: string) {
    super('FORBIDDEN', 403, message)
  }
}

export class NotFoundError extends DromosError {
  constructor(message: string) {
    super('NOT_FOUND', 404, message)
  }
}

export class ConflictError extends DromosError {
  constructor(message: string) {
    super('CONFLICT', 409, message)
  }
}

export class ServiceUnavailableError extends DromosError {
  constructor(message: string) {
    super('SERVICE_UNAVAILABLE', 503, message)
  }
}

export function assertNever(x: never): never {
  throw new Error(`Unexpected value: ${JSON.stringify(x)}`)
}
