import { alertBox, announce, h } from '../dom'
import { ApiError } from '../graphql'
import { navigate, type Page } from '../router'
import { logIn, signUp } from '../session'

function nextPath(): string {
  const next = new URLSearchParams(window.location.search).get('next')
  // Only a path on this site: never an open redirect.
  return next && next.startsWith('/') && !next.startsWith('//') ? next : '/library'
}

function field(id: string, label: string, input: HTMLInputElement, hint?: string): HTMLElement {
  input.id = id
  if (hint) input.setAttribute('aria-describedby', `${id}-hint`)
  return h('div', { class: 'field' }, h('label', { for: id }, label), input, hint ? h('p', { class: 'hint', id: `${id}-hint` }, hint) : null)
}

function emailField(): HTMLElement {
  return field('email', 'Email', h('input', { name: 'email', type: 'email', autocomplete: 'email', required: true }))
}

function authForm(
  main: HTMLElement,
  title: string,
  fields: HTMLElement[],
  submitLabel: string,
  submit: (form: FormData) => Promise<void>,
  other: HTMLElement,
): void {
  const errors = h('div', {})
  const button = h('button', { type: 'submit' }, submitLabel)
  const form = h('form', { class: 'card narrow', novalidate: false }, ...fields, errors, button)
  form.addEventListener('submit', async (event) => {
    event.preventDefault()
    errors.replaceChildren()
    button.disabled = true
    try {
      await submit(new FormData(form))
      announce(`${title}: done`)
      navigate(nextPath())
    } catch (error) {
      const message = error instanceof ApiError ? error.message : 'Something went wrong; try again.'
      errors.replaceChildren(alertBox(message))
      button.disabled = false
    }
  })
  main.append(h('h1', {}, title), form, other)
}

export const logInPage: Page = {
  async render(main) {
    authForm(
      main,
      'Log in',
      [
        emailField(),
        field('password', 'Password', h('input', { name: 'password', type: 'password', autocomplete: 'current-password', required: true })),
      ],
      'Log in',
      (form) => logIn(String(form.get('email')), String(form.get('password'))),
      h('p', {}, 'New here? ', h('a', { href: `/signup${window.location.search}` }, 'Create an account'), '.'),
    )
  },
}

export const signUpPage: Page = {
  async render(main) {
    authForm(
      main,
      'Sign up',
      [
        emailField(),
        field('display-name', 'Display name', h('input', { name: 'displayName', autocomplete: 'nickname', required: true, maxlength: 80 })),
        field(
          'password',
          'Password',
          h('input', { name: 'password', type: 'password', autocomplete: 'new-password', required: true, minlength: 10 }),
          'At least 10 characters.',
        ),
      ],
      'Create account',
      (form) => signUp(String(form.get('email')), String(form.get('password')), String(form.get('displayName'))),
      h('p', {}, 'Have an account? ', h('a', { href: `/login${window.location.search}` }, 'Log in'), '.'),
    )
  },
}
