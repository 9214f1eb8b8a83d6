import { en } from 'zod/locales';
import * as z from 'zod/mini';

/**
 * `zod/mini` loads no locale, so without this every issue reads only "Invalid input". Installs zod's
 * English messages ("Too small: expected string to have >=1 characters") unless a locale is already
 * set; called before any parse whose issues are shown to a person. Cheap to call again. Only
 * the English locale is imported: `z.locales` would bundle all of zod's locales into the device binary.
 */
export function useEnglishSchemaMessages(): void {
  if (z.config().localeError === undefined) z.config(en());
}
