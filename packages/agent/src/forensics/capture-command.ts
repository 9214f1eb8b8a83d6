import type { DeviceCommand, IsolationState } from '@edgeward/core';
import type { DeviceCommandHandler } from '../commands/command-dispatcher.ts';
import type { CapturedBundle, CaptureTrigger } from './capture.ts';

/**
 * The `capture` command: collects the bundle (the upload follows in the background, so that a slow link
 * does not hold up the next command, an isolation say) and reports its id and size.
 */
export function captureCommandHandler(deps: {
  capture: (trigger: CaptureTrigger, reason: string, files: readonly string[]) => Promise<CapturedBundle>;
  isolation: () => IsolationState;
}): DeviceCommandHandler {
  return {
    async handle(command: DeviceCommand) {
      if (command.kind !== 'capture') throw new Error(`not a capture command: ${command.kind}`);
      const bundle = await deps.capture(
        { kind: 'command', commandId: command.id },
        command.params.reason,
        command.params.files,
      );
      const { manifest } = bundle;
      const truncated = manifest.items.filter((item) => item.truncated).length;
      return {
        status: 'done',
        detail: `captured ${manifest.items.length} items (${manifest.totalBytes} bytes${truncated > 0 ? `, ${truncated} cut at the size cap` : ''}) as evidence bundle ${manifest.id}; uploading`,
        state: deps.isolation(),
      };
    },
  };
}
