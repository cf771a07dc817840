import { z } from 'zod';
import { toFerryError } from '../engine/errors.js';
import { NAME_PATTERN } from '../engine/model.js';
import { confirmPayloadSchema, encodePayload } from '../views/actions.js';
import { code } from '../views/blocks.js';
import { time, who, withCommand } from '../views/format.js';
import {
  confirmStep,
  evacuateForm,
  FIELD,
  type Field,
  INPUT,
  type ModalView,
  outcomeStep,
} from '../views/modal.js';
import { planPreview, scheduleText } from '../views/plan.js';
import { parseCommand } from './grammar.js';
import { authorise, parsePayload, type SurfaceDeps, usePlan } from './handlers.js';

/**
 * `/ferry evacuate` without arguments opens a modal: the form (host, when, reason) is checked
 * with the command's own grammar and errors are shown under the input they concern; a valid
 * form becomes the plan's preview with Confirm as the modal's submit (the issued plan's ticket
 * in private_metadata, checked by the engine like a Confirm button's); Confirm starts it.
 */

/** What Slack acks a view_submission with: errors under inputs, or the next view. */
export type ViewAck =
  | { response_action: 'errors'; errors: Partial<Record<Field, string>> }
  | { response_action: 'update'; view: ModalView };

/** The part of a view_submission's view ferry reads, parsed: a forged one changes nothing. */
const submittedSchema = z.object({
  private_metadata: z.string().max(3000).optional(),
  state: z
    .object({
      values: z.record(
        z.string(),
        z.record(z.string(), z.object({ value: z.string().max(3000).nullable().optional() })),
      ),
    })
    .optional(),
});

/** Opens the form (operators only: refused like the typed command otherwise). */
export async function openEvacuateForm(
  deps: SurfaceDeps & { openView: NonNullable<SurfaceDeps['openView']> },
  user: string,
  triggerId: string,
): Promise<void> {
  await authorise(deps, user, 'operator', `run ${deps.command} evacuate`, 'evacuate', 'form');
  const windows = (await deps.service.windows()).map((w) => w.name);
  await deps.openView(triggerId, evacuateForm(windows));
}

function field(values: z.infer<typeof submittedSchema>['state'], id: Field): string {
  return (values?.values[id]?.[INPUT]?.value ?? '').trim();
}

/** The form's submission: errors in the form, or the confirmation step with the plan. */
export async function submitEvacuateForm(deps: SurfaceDeps, user: string, view: unknown): Promise<ViewAck> {
  const parsed = submittedSchema.safeParse(view);
  if (!parsed.success) return errors({ [FIELD.host]: 'the form came back in a shape ferry did not send' });
  const state = parsed.data.state;
  const host = field(state, FIELD.host);
  if (!NAME_PATTERN.test(host))
    return errors({ [FIELD.host]: 'a host name: letters, digits, ".", "_" or "-", at most 63' });
  const when = field(state, FIELD.when) || 'now';
  const reason = field(state, FIELD.reason);
  const words = when.split(/\s+/)[0]!.toLowerCase();
  // The typed command's grammar checks the time; "now", "at", "in" and "window" lead it.
  if (!['now', 'at', 'in', 'window'].includes(words))
    return errors({ [FIELD.when]: 'start with now, at TIME, in DURATION or window NAME' });
  const command = parseCommand(`evacuate ${host} ${when} ${reason}`, {
    now: deps.now(),
    timezone: deps.timezone,
    command: deps.command,
  });
  if (!command.ok)
    return errors({ [/reason/.test(command.error) ? FIELD.reason : FIELD.when]: command.error });
  if (command.command.name !== 'evacuate') return errors({ [FIELD.host]: 'not an evacuation' });
  const reasonRead = command.command.reason;
  if ((reasonRead ?? '') !== reason)
    return errors({ [FIELD.when]: 'put only the time here, and the reason below' });
  try {
    await authorise(deps, user, 'operator', `run ${deps.command} evacuate`, 'evacuate', host);
    const issued = await deps.service.preview({
      hosts: [host],
      when: command.command.when,
      requestedBy: user,
      reason: reasonRead,
      maintenance: deps.maintenance,
    });
    const preview = planPreview(issued.plans, {
      timezone: deps.timezone,
      command: deps.command,
      confirm: {
        ticket: { v: 2, planId: issued.id, nonce: issued.nonce },
        requestedBy: user,
        when: issued.request.when,
        reason: issued.request.reason,
        expiresAt: issued.expiresAt,
      },
    });
    return {
      response_action: 'update',
      view: confirmStep(preview.blocks, encodePayload({ v: 2, planId: issued.id, nonce: issued.nonce })),
    };
  } catch (err) {
    return errors({ [FIELD.host]: withCommand(toFerryError(err).userMessage, deps.command) });
  }
}

/** Confirm in the modal: the same engine check as the Confirm button; the modal says what started. */
export async function submitEvacuateConfirm(
  deps: SurfaceDeps,
  user: string,
  view: unknown,
): Promise<ViewAck> {
  try {
    const metadata = submittedSchema.safeParse(view).data?.private_metadata;
    const ticket = await parsePayload(confirmPayloadSchema, metadata);
    await authorise(deps, user, 'operator', 'start an evacuation', 'confirm', ticket.planId);
    const started = await usePlan('confirm', deps, () =>
      deps.service.confirm({ planId: ticket.planId, nonce: ticket.nonce }, user),
    );
    await deps.follow(started.id);
    const when = scheduleText(started.plan.request.when, deps.timezone);
    return {
      response_action: 'update',
      view: outcomeStep(
        'Draining',
        `✅ Confirmed by ${who(user)} at ${time(deps.now(), deps.timezone)}: ${code(started.id)} starts ${when}. Progress in <#${deps.progressChannel}>.`,
      ),
    };
  } catch (err) {
    return {
      response_action: 'update',
      view: outcomeStep(
        'Not started',
        `:warning: ${withCommand(toFerryError(err).userMessage, deps.command)}`,
      ),
    };
  }
}

function errors(errors: Partial<Record<Field, string>>): ViewAck {
  const clipped = Object.fromEntries(Object.entries(errors).map(([k, v]) => [k, v!.slice(0, 300)]));
  return { response_action: 'errors', errors: clipped };
}
