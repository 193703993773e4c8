import { describe, expect, it } from 'vitest'
import { podPath } from './pods-http.js'

describe('podPath', () => {
  it('splits the pod id from the :: suffixes of the pods API', () => {
    expect(podPath('/v2/pods/::status')).toEqual({ id: '', rest: '::status' })
    expect(podPath('/v2/pods/web/db::status')).toEqual({ id: '/web/db', rest: '::status' })
    expect(podPath('/v2/pods/web::instances/web.instance-1')).toEqual({ id: '/web', rest: '::instances/web.instance-1' })
    expect(podPath('/v2/pods/web/')).toEqual({ id: '/web', rest: '' })
    expect(podPath('/v2/pods/')).toEqual({ id: '', rest: '' })
  })
})
