// Tests build malformed or foreign certificates directly with the X.509 library.
import * as x509 from '@peculiar/x509';

export { x509 };
