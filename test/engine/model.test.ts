import { describe, expect, it } from 'vitest';
import {
  canTransition,
  EVACUATION_TRANSITIONS,
  FINAL_EVACUATION_STATES,
  FINAL_MIGRATION_STATES,
  MIGRATION_TRANSITIONS,
} from '../../src/engine/model.js';

describe('migration state machine', () => {
  it('lets a running migration complete, fail or be aborted', () => {
    for (const to of ['completed', 'failed', 'aborted'] as const) {
      expect(canTransition(MIGRATION_TRANSITIONS, 'running', to)).toBe(true);
    }
  });

  it('never leaves a final state', () => {
    for (const state of FINAL_MIGRATION_STATES) expect(MIGRATION_TRANSITIONS[state]).toEqual([]);
  });

  it('does not complete a migration that never started', () => {
    expect(canTransition(MIGRATION_TRANSITIONS, 'pending', 'completed')).toBe(false);
    expect(canTransition(MIGRATION_TRANSITIONS, 'pending', 'switching-over')).toBe(false);
  });

  it('only switches over from a running or approved migration', () => {
    const into = Object.entries(MIGRATION_TRANSITIONS)
      .filter(([, next]) => next.includes('switching-over'))
      .map(([from]) => from)
      .sort();
    expect(into).toEqual(['awaiting-approval', 'running']);
  });
});

describe('evacuation state machine', () => {
  it('never leaves a final state', () => {
    for (const state of FINAL_EVACUATION_STATES) expect(EVACUATION_TRANSITIONS[state]).toEqual([]);
  });

  it('pauses and resumes only while draining', () => {
    expect(canTransition(EVACUATION_TRANSITIONS, 'draining', 'paused')).toBe(true);
    expect(canTransition(EVACUATION_TRANSITIONS, 'paused', 'draining')).toBe(true);
    expect(canTransition(EVACUATION_TRANSITIONS, 'maintenance', 'paused')).toBe(false);
  });

  it('runs maintenance only after a drain', () => {
    const into = Object.entries(EVACUATION_TRANSITIONS)
      .filter(([, next]) => next.includes('maintenance'))
      .map(([from]) => from);
    expect(into).toEqual(['draining']);
  });
});
