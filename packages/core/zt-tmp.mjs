import * as z from 'zod/mini';
const s = z.object({ a: z.number().check(z.int(), z.minimum(3)) });
console.log(JSON.stringify(s.safeParse({ a: 'x' }).error.issues));
z.config(z.locales.en());
console.log(JSON.stringify(s.safeParse({ a: 'x' }).error.issues));
