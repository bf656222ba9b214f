import { describe, expect, it } from 'vitest';
import { StopStringMatcher } from '../../../src/runtime/sampling/stop-strings.js';

describe('StopStringMatcher', () => {
  it('holds back a possible stop-string start and releases it when it diverges', () => {
    const m = new StopStringMatcher(['</s>']);
    expect(m.push('abc<')).toEqual({ text: 'abc', stopped: false });
    expect(m.push('/')).toEqual({ text: '', stopped: false });
    expect(m.push('x')).toEqual({ text: '</x', stopped: false });
    expect(m.push('<')).toEqual({ text: '', stopped: false });
    expect(m.push('/s> tail')).toEqual({ text: '', stopped: true });
  });

  it('cuts at the earliest match and drops everything after it', () => {
    const m = new StopStringMatcher(['bb', 'c']);
    expect(m.push('aab')).toEqual({ text: 'aa', stopped: false });
    expect(m.push('cbb')).toEqual({ text: 'b', stopped: true });
  });

  it('flush returns held text; no stop strings means pass-through', () => {
    const m = new StopStringMatcher(['STOP']);
    expect(m.push('xST')).toEqual({ text: 'x', stopped: false });
    expect(m.flush()).toBe('ST');
    expect(new StopStringMatcher([]).push('anything')).toEqual({ text: 'anything', stopped: false });
  });
});
