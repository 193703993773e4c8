import { describe, expect, it } from 'vitest'
import { oomKillLogged } from './docker-oom.js'

const ID = '45b1f689f0bba3fe9fc6ee6c30c5fee7bc979a77aa0346083b70b525de7c4668'
const OTHER = '9d0c7e1fa2b34c5d6e7f8091a2b3c4d5e6f708192a3b4c5d6e7f8091a2b3c4d5'
const kill = (memcg: string): string =>
  `3,49105,32275984759,-;oom-kill:constraint=CONSTRAINT_MEMCG,nodemask=(null),cpuset=x,mems_allowed=0,oom_memcg=${memcg},task_memcg=${memcg},task=dd,pid=24688,uid=0\n`

describe('oomKillLogged', () => {
  it('finds the kill of the container in its cgroup, for either cgroup driver', () => {
    expect(oomKillLogged([kill(`/docker/${ID}`)], ID)).toBe(true)
    expect(oomKillLogged([kill(`/system.slice/docker-${ID}.scope`)], ID)).toBe(true)
  })

  it('does not take another container’s kill, a kill outside the cgroup or other records for it', () => {
    expect(oomKillLogged([kill(`/docker/${OTHER}`)], ID)).toBe(false)
    // A host-wide OOM that picked the container's process names no memcg of it.
    expect(oomKillLogged([kill('/')], ID)).toBe(false)
    expect(oomKillLogged([`6,49154,32276026753,-;docker0: port 1 entered disabled state, container ${ID}\n`], ID)).toBe(false)
    expect(oomKillLogged([], ID)).toBe(false)
    // A short or empty id matches nothing.
    expect(oomKillLogged([kill(`/docker/${ID}`)], '')).toBe(false)
  })
})
