// The app's one GraphQL client. Queries go as GET with Apollo's automatic persisted queries
// (the hash first, the document only when the server asks), so anonymous reads are answered
// from the API's response cache and revalidated by ETag; mutations go as POST; subscriptions
// over graphql-transport-ws. The session is the HttpOnly cookie logIn/signUp set: the page
// never holds a token, and the API's CSRF rule (an allowed Origin) is met by the browser.
import { type Client, createClient } from 'graphql-ws'
import type { Operation } from '../generated/operations'

const ENDPOINT = '/graphql'
const ACCEPT = 'application/graphql-response+json, application/json;q=0.9'

export class ApiError extends Error {
  readonly code: string | undefined
  readonly retryAfterSeconds: number | undefined

  constructor(message: string, code?: string, retryAfterSeconds?: number) {
    super(message)
    this.name = 'ApiError'
    this.code = code
    this.retryAfterSeconds = retryAfterSeconds
  }
}

interface WireError {
  message: string
  extensions?: { code?: string; retryAfterSeconds?: number }
}

interface WireResult<Result> {
  data?: Result | null
  errors?: WireError[]
}

function failure(errors: WireError[]): ApiError {
  const [first] = errors
  return new ApiError(
    first?.message ?? 'The request failed.',
    first?.extensions?.code,
    first?.extensions?.retryAfterSeconds,
  )
}

async function read<Result>(response: Response): Promise<WireResult<Result>> {
  const type = response.headers.get('content-type') ?? ''
  if (!type.includes('json')) {
    throw new ApiError(`The API answered ${response.status}.`, response.status >= 500 ? 'UNAVAILABLE' : undefined)
  }
  return (await response.json()) as WireResult<Result>
}

function persistedUrl(operation: Operation<unknown, unknown>, variables: unknown, withDocument: boolean): string {
  const params = new URLSearchParams({
    operationName: operation.name,
    variables: JSON.stringify(variables ?? {}),
    extensions: JSON.stringify({ persistedQuery: { version: 1, sha256Hash: operation.hash } }),
  })
  if (withDocument) params.set('query', operation.document)
  return `${ENDPOINT}?${params.toString()}`
}

async function query<Result>(operation: Operation<Result, unknown>, variables: unknown): Promise<WireResult<Result>> {
  const options: RequestInit = { headers: { accept: ACCEPT }, credentials: 'same-origin' }
  const first = await read<Result>(await fetch(persistedUrl(operation, variables, false), options))
  if (first.errors?.some((e) => e.extensions?.code === 'PERSISTED_QUERY_NOT_FOUND')) {
    return read<Result>(await fetch(persistedUrl(operation, variables, true), options))
  }
  return first
}

async function mutate<Result>(operation: Operation<Result, unknown>, variables: unknown): Promise<WireResult<Result>> {
  const response = await fetch(ENDPOINT, {
    method: 'POST',
    credentials: 'same-origin',
    headers: { accept: ACCEPT, 'content-type': 'application/json' },
    body: JSON.stringify({ query: operation.document, operationName: operation.name, variables }),
  })
  return read<Result>(response)
}

/** The operation's data, or an ApiError carrying the first error's code. */
export async function request<Result, Variables>(
  operation: Operation<Result, Variables>,
  variables: Variables,
): Promise<Result> {
  const result =
    operation.kind === 'query' ? await query(operation, variables) : await mutate(operation, variables)
  if (result.errors && result.errors.length > 0) throw failure(result.errors)
  if (result.data == null) throw new ApiError('The API sent no data.')
  return result.data
}

let socket: Client | undefined

function sockets(): Client {
  socket ??= createClient({
    url: new URL(ENDPOINT, window.location.href).href.replace(/^http/, 'ws'),
    lazy: true,
    retryAttempts: 5,
  })
  return socket
}

/** After logging in or out, the next subscription opens a socket with the new cookie. */
export function resetSubscriptions(): void {
  void socket?.dispose()
  socket = undefined
}

export interface Sink<Result> {
  next: (data: Result) => void
  error: (error: ApiError) => void
  complete: () => void
}

/** Starts the subscription; the returned function ends it. */
export function subscribe<Result, Variables>(
  operation: Operation<Result, Variables>,
  variables: Variables,
  sink: Sink<Result>,
): () => void {
  return sockets().subscribe<Result>(
    {
      query: operation.document,
      operationName: operation.name,
      variables: variables as Record<string, unknown>,
    },
    {
      next: (result) => {
        if (result.errors && result.errors.length > 0) sink.error(failure([...result.errors]))
        else if (result.data) sink.next(result.data)
      },
      error: (error) => {
        const message = error instanceof Error ? error.message : 'The live connection was lost.'
        sink.error(new ApiError(Array.isArray(error) ? failure(error).message : message))
      },
      complete: sink.complete,
    },
  )
}
