// Who is signed in, as the API says (the Viewer query with the session cookie).
import { LogIn, LogOut, SignUp, Viewer, type ViewerQuery } from '../generated/operations'
import { request, resetSubscriptions } from './graphql'

export type SignedIn = NonNullable<ViewerQuery['viewer']>

let current: SignedIn | null = null
const listeners = new Set<(viewer: SignedIn | null) => void>()

export function viewer(): SignedIn | null {
  return current
}

export function onViewerChange(listener: (viewer: SignedIn | null) => void): void {
  listeners.add(listener)
}

function set(next: SignedIn | null): void {
  current = next
  resetSubscriptions()
  for (const listener of listeners) listener(next)
}

export async function loadViewer(): Promise<void> {
  const data = await request(Viewer, {})
  current = data.viewer
  for (const listener of listeners) listener(current)
}

export async function signUp(email: string, password: string, displayName: string): Promise<void> {
  set((await request(SignUp, { email, password, displayName })).signUp.viewer)
}

export async function logIn(email: string, password: string): Promise<void> {
  set((await request(LogIn, { email, password })).logIn.viewer)
}

export async function logOut(): Promise<void> {
  await request(LogOut, {})
  set(null)
}
