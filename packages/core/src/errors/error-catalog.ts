/**
 * Every error Edgeward reports, with a stable code. The category decides how each transport shows it
 * (HTTP status, protocol reply, CLI exit code); `action` is what the user should do, and docs/errors.md
 * is generated from this table.
 */
export type ErrorCategory =
  | 'invalid-input'
  | 'unauthenticated'
  | 'forbidden'
  | 'not-found'
  | 'conflict'
  | 'unavailable'
  | 'internal';

export interface ErrorDefinition {
  readonly category: ErrorCategory;
  /** What happened, in one sentence. */
  readonly meaning: string;
  /** What the user should do about it. */
  readonly action: string;
}

export const errorCatalog = {
  EW_CONFIG_INVALID: {
    category: 'invalid-input',
    meaning: 'A configuration value (file, environment or flag) is missing or malformed.',
    action: 'Correct the setting named in the message; `--help` lists every setting with its default.',
  },
  EW_REQUEST_INVALID: {
    category: 'invalid-input',
    meaning: 'A request body, query or message did not match the protocol schema.',
    action: 'Fix the field named in the message; clients and servers must speak the same protocol version.',
  },
  EW_ROUTE_NOT_FOUND: {
    category: 'not-found',
    meaning: 'No API endpoint has this method and path.',
    action: 'Check the URL and method; the CLI and the manager must be of the same version.',
  },
  EW_REQUEST_TOO_LARGE: {
    category: 'invalid-input',
    meaning:
      'A request body is larger than the configured limit (`bodyLimitBytes`, counted after decompression).',
    action: 'Send less per request, or raise `bodyLimitBytes` on the manager.',
  },
  EW_PROTOCOL_VERSION_UNSUPPORTED: {
    category: 'invalid-input',
    meaning: 'A message carried a protocol version this program does not speak.',
    action: 'Upgrade the older side so that agent, manager and CLI speak the same protocol version.',
  },
  EW_ENROLLMENT_TOKEN_UNKNOWN: {
    category: 'unauthenticated',
    meaning: 'The enrollment token does not exist.',
    action: 'Check that the token was copied whole, or create a new one with `edgeward tokens create`.',
  },
  EW_ENROLLMENT_TOKEN_EXPIRED: {
    category: 'unauthenticated',
    meaning: 'The enrollment token has passed its expiry time.',
    action: 'Create a new token with `edgeward tokens create` (choose a longer `--ttl` if needed).',
  },
  EW_ENROLLMENT_TOKEN_REVOKED: {
    category: 'unauthenticated',
    meaning: 'The enrollment token was revoked by an operator.',
    action: 'Ask an operator for a valid token (`edgeward tokens create`).',
  },
  EW_ENROLLMENT_TOKEN_USED: {
    category: 'unauthenticated',
    meaning: 'The enrollment token has already enrolled a device; tokens are single-use.',
    action: 'Create one token per device with `edgeward tokens create`.',
  },
  EW_CSR_INVALID: {
    category: 'invalid-input',
    meaning: 'The certificate signing request could not be parsed.',
    action: 'Send a PEM-encoded PKCS#10 request; `edgeward agent enroll` creates a valid one.',
  },
  EW_CSR_SIGNATURE_INVALID: {
    category: 'invalid-input',
    meaning: 'The CSR signature does not verify, so the sender has not proven it holds the private key.',
    action: 'Create the CSR with the device key itself; do not edit a CSR after signing it.',
  },
  EW_CSR_KEY_UNSUPPORTED: {
    category: 'invalid-input',
    meaning: 'The CSR public key is not an ECDSA P-256 key.',
    action: 'Generate an ECDSA P-256 key on the device; other key types and sizes are refused.',
  },
  EW_CERTIFICATE_INVALID: {
    category: 'invalid-input',
    meaning: 'A certificate or CRL could not be parsed as PEM-encoded X.509.',
    action: 'Pass the PEM text whole, including its BEGIN and END lines.',
  },
  EW_CERTIFICATE_NAME_INVALID: {
    category: 'invalid-input',
    meaning: 'A DNS name, IP address, common name or serial number for a certificate or CRL is malformed.',
    action:
      'Use DNS names like `manager.example.com`, IP addresses like `192.0.2.1` or `2001:db8::1`, and hex serials.',
  },
  EW_FINGERPRINT_INVALID: {
    category: 'invalid-input',
    meaning: 'A certificate fingerprint is not a SHA-256 digest in a recognised form.',
    action:
      'Give 64 hex digits, optionally as `AB:CD:...` pairs or prefixed with `sha256:`, as `edgeward manager start` prints it.',
  },
  EW_SPIFFE_ID_INVALID: {
    category: 'invalid-input',
    meaning: 'A fleet name or a device or site id cannot form a SPIFFE identity.',
    action:
      "Name the fleet like a DNS name (lower-case letters, digits, '-' and '.'); ids use letters, digits, '.', '_' and '-'.",
  },
  EW_CLIENT_CERT_REQUIRED: {
    category: 'unauthenticated',
    meaning: 'This device API call needs a valid fleet client certificate.',
    action: 'Enroll the device first (`edgeward agent enroll`), then call with its certificate.',
  },
  EW_DEVICE_REVOKED: {
    category: 'forbidden',
    meaning: 'The device has been revoked; its certificates are refused.',
    action: 'Enroll the device again with a new token if it should rejoin the fleet.',
  },
  EW_DEVICE_NOT_FOUND: {
    category: 'not-found',
    meaning: 'No device has this id.',
    action: 'List devices with `edgeward devices list` and use an id from there.',
  },
  EW_COMMAND_NOT_FOUND: {
    category: 'not-found',
    meaning: 'The device has no command with this id.',
    action: "List the device's commands with `edgeward devices commands ID` and use an id from there.",
  },
  EW_TOKEN_NOT_FOUND: {
    category: 'not-found',
    meaning: 'No enrollment token has this id.',
    action: 'List tokens with `edgeward tokens list`.',
  },
  EW_OPERATOR_NOT_FOUND: {
    category: 'not-found',
    meaning: 'No operator has this id.',
    action: 'List operators with `edgeward operators list`.',
  },
  EW_OPERATOR_TOKEN_MISSING: {
    category: 'unauthenticated',
    meaning: 'The operator API was called without an API token.',
    action: 'Pass `--token` or set EDGEWARD_TOKEN to an operator token.',
  },
  EW_OPERATOR_TOKEN_INVALID: {
    category: 'unauthenticated',
    meaning: 'The operator API token is unknown or revoked.',
    action: 'Use a current token; an admin can create one with `edgeward operators create`.',
  },
  EW_OPERATOR_ROLE_INSUFFICIENT: {
    category: 'forbidden',
    meaning: "The operator's role does not allow this action.",
    action: 'Viewers can only read; ask an admin for an operator or admin token.',
  },
  EW_SESSION_INVALID: {
    category: 'unauthenticated',
    meaning: 'The dashboard session cookie is expired, altered, or its operator was revoked.',
    action: 'Sign in to the dashboard again with a current operator token.',
  },
  EW_SESSION_CSRF_MISSING: {
    category: 'forbidden',
    meaning: 'A change was sent with the session cookie but without the X-Edgeward-CSRF header.',
    action: 'Send changes from the dashboard itself, or call the API with a bearer token.',
  },
  EW_LAST_ADMIN: {
    category: 'conflict',
    meaning: 'The action would leave the fleet without an active admin.',
    action: 'Create another admin before revoking this one.',
  },
  EW_INVENTORY_BASE_MISMATCH: {
    category: 'conflict',
    meaning: 'An inventory difference was based on a version the manager does not hold.',
    action: 'None: the agent sends a full snapshot next; this is reported for diagnosis only.',
  },
  EW_PKI_FILE_INVALID: {
    category: 'internal',
    meaning:
      'A key or certificate in the data directory is unreadable, malformed or does not match its pair.',
    action: 'Restore the data directory from backup; Edgeward never overwrites existing keys.',
  },
  EW_PKI_FILE_MODE_UNSAFE: {
    category: 'invalid-input',
    meaning: 'A private key file is readable by other users.',
    action: 'Restrict it with `chmod 600 FILE` and start again.',
  },
  EW_AGENT_NOT_ENROLLED: {
    category: 'invalid-input',
    meaning: 'The agent data directory holds no enrollment.',
    action:
      'Run `edgeward agent enroll` with a token first, or point `--data-dir` at the enrolled directory.',
  },
  EW_AGENT_ALREADY_ENROLLED: {
    category: 'conflict',
    meaning: 'The agent data directory already holds an enrollment.',
    action: 'Use another `--data-dir`, or remove the directory to enroll from scratch.',
  },
  EW_CA_FINGERPRINT_MISMATCH: {
    category: 'forbidden',
    meaning: "The manager's fleet CA does not have the pinned fingerprint: it may not be your manager.",
    action: 'Check the fingerprint the manager printed at start (`edgeward manager start`) and the URL.',
  },
  EW_MANAGER_UNREACHABLE: {
    category: 'unavailable',
    meaning: 'The manager could not be reached or did not answer.',
    action: 'Check the URL, that the manager runs, and the network; agents retry on their own.',
  },
  EW_EVENT_INVALID: {
    category: 'invalid-input',
    meaning: "An event handed to the agent's queue does not match the event schema.",
    action:
      'This is a defect in the collector that produced it; report it with the event type in the message.',
  },
  EW_EVENTS_FILE_INVALID: {
    category: 'invalid-input',
    meaning: 'A line of an events file (JSON lines, for `edgeward rules test`) is not an event.',
    action:
      'Fix the line named in the message: one JSON object per line, an Edgeward event ({"type", "time", "data"}) or a flat record of Sigma fields.',
  },
  EW_EVENT_QUEUE_UNAVAILABLE: {
    category: 'unavailable',
    meaning: "The agent's event queue (a SQLite file in the data directory) could not be opened or written.",
    action:
      'Check free disk space and the permissions of the data directory; if the file is damaged, move it aside and restart (its events are lost).',
  },
  EW_SYSLOG_LISTEN_FAILED: {
    category: 'unavailable',
    meaning: 'A syslog listener (UDP, TCP or TLS) could not bind its address and port.',
    action:
      'Free the port named in the message or choose another; ports below 1024 (514, 6514) need privileges or CAP_NET_BIND_SERVICE.',
  },
  EW_SYSLOG_OUT_UNREACHABLE: {
    category: 'unavailable',
    meaning:
      'Syslog out could not connect to the SIEM named by `syslogOutUrl`, its TLS certificate was refused, or the connection dropped.',
    action:
      'Check that the SIEM listens at that address and, for TLS, that `syslogOutCaFile` (or the system CAs) verifies its certificate; entries wait on disk (up to `syslogOutMaxQueued`) and are sent once it is reachable.',
  },
  EW_POLICY_INVALID: {
    category: 'invalid-input',
    meaning:
      'The policy folder does not compile: a file is not valid YAML or a field breaks the policy format.',
    action:
      'Fix each problem listed in the details (file, line, column, field) and run `edgeward policy plan` again; docs/policy.md describes the format.',
  },
  EW_POLICY_UNCHANGED: {
    category: 'conflict',
    meaning: 'The policy compiles to exactly the version in force, so no new version was made.',
    action: 'Nothing to do; change the policy folder first, or roll back to an older version by number.',
  },
  EW_POLICY_VERSION_NOT_FOUND: {
    category: 'not-found',
    meaning: 'No policy version has this number.',
    action: 'List versions with `edgeward policy history` and use a number from there.',
  },
  EW_POLICY_CHECK_FAILED: {
    category: 'conflict',
    meaning:
      'At least one baseline check failed, or could not be evaluated, on the inspected root directory.',
    action:
      'Read the failing checks and their details in the output; fix the system (or the check) and run it again.',
  },
  EW_POLICY_BUNDLE_REFUSED: {
    category: 'forbidden',
    meaning:
      'A policy bundle was refused: malformed, unsigned, signed by a key other than the pinned one, altered after signing, or older than the bundle in force.',
    action:
      "Check that the device was enrolled with this manager (it pins the manager's `policy-signing.pub`); the device keeps enforcing its last good bundle meanwhile.",
  },
  EW_POLICY_KEY_INVALID: {
    category: 'invalid-input',
    meaning: 'A policy signing or verification key is not an Ed25519 key in PEM form.',
    action:
      "Use the manager's `policy-signing.key` (PKCS#8) to sign and `policy-signing.pub` (SPKI) to verify, whole with their BEGIN and END lines.",
  },
  EW_CANONICAL_JSON_UNSUPPORTED: {
    category: 'invalid-input',
    meaning:
      'A value cannot be written as canonical JSON (RFC 8785): undefined, NaN, Infinity, a lone surrogate, a function or a BigInt.',
    action:
      'This is a defect in the code that built the value; report it with the path named in the message.',
  },
  EW_ALERT_NOT_FOUND: {
    category: 'not-found',
    meaning: 'No alert has this id.',
    action:
      'List alerts with `edgeward alerts list` (add `--state resolved` for closed ones) and use an id from there.',
  },
  EW_ALERT_STATE_CONFLICT: {
    category: 'conflict',
    meaning:
      'The alert is in a state that does not allow this action, such as acknowledging or suppressing a resolved alert.',
    action:
      'Read its state with `edgeward alerts show ID`; a resolved alert reopens by itself when its rule fires again.',
  },
  EW_ALERT_DELIVERY_FAILED: {
    category: 'unavailable',
    meaning:
      'An alert notification could not be delivered to a destination (webhook, MQTT broker or mail server); it stays queued and is retried with backoff.',
    action:
      'Check the destination named in the message (address, credentials, what it answered); `edgeward alerts deliveries --state failing` lists what waits.',
  },
  EW_AUDIT_CHAIN_BROKEN: {
    category: 'conflict',
    meaning:
      'The audit chain or an audit export does not verify: an entry was edited, deleted or reordered, the chain was cut after a signed checkpoint, or a signature does not hold.',
    action:
      'Treat it as tampering: the message names the first bad sequence number and what is wrong there; compare with an earlier export or a backup of the database, and keep the evidence.',
  },
  EW_AUDIT_KEY_INVALID: {
    category: 'invalid-input',
    meaning: 'An audit signing or verification key is not an Ed25519 key in PEM form.',
    action:
      "Verify with the manager's `pki/audit-signing.pub` (SPKI PEM), whole with its BEGIN and END lines.",
  },
  EW_ARTIFACT_NOT_FOUND: {
    category: 'not-found',
    meaning: 'No artifact has this name and version.',
    action:
      'List the artifacts with `edgeward artifacts list`, or upload it with `edgeward artifacts upload`.',
  },
  EW_ARTIFACT_EXISTS: {
    category: 'conflict',
    meaning: 'An artifact with this name and version was already uploaded with other content.',
    action: 'Give the new build a new version; a published version never changes.',
  },
  EW_ARTIFACT_BELOW_FLOOR: {
    category: 'conflict',
    meaning: 'The version is below the anti-downgrade floor set for this artifact name.',
    action:
      'Release a version at or above the floor, or pass `--below-floor-reason` to record an audited exception.',
  },
  EW_ROLLOUT_INVALID: {
    category: 'invalid-input',
    meaning: 'A rollout request is malformed (phases, gates, selector) or selects no device.',
    action: 'Fix the value named in the message; phases are written like `canary:5,25%,100%`.',
  },
  EW_ROLLOUT_NOT_FOUND: {
    category: 'not-found',
    meaning: 'No rollout has this id.',
    action: 'List the rollouts with `edgeward rollouts list` and use an id from there.',
  },
  EW_ROLLOUT_STATE_CONFLICT: {
    category: 'conflict',
    meaning: 'The rollout is not in a state that allows this action (for example resuming a completed one).',
    action: 'Check its state with `edgeward rollouts status ID`; create a new rollout to start over.',
  },
  EW_UPDATE_REFUSED: {
    category: 'invalid-input',
    meaning:
      'The device refused an update: its TUF metadata or target did not verify (signature, expiry, version, length, hash) or it is below the floor.',
    action:
      "Check the manager's TUF repository (`edgeward artifacts list`) and the device's clock; the device keeps running its current version.",
  },
  EW_UPDATE_INSTALL_FAILED: {
    category: 'unavailable',
    meaning:
      'The device could not install, health-check or commit an update, and went back to its previous version.',
    action:
      "Read the rollout's device detail (`edgeward rollouts status ID`) and the installer's output on the device.",
  },
  EW_UPDATE_REPORT_SIGNATURE_INVALID: {
    category: 'invalid-input',
    meaning: "A device's running-version report is not signed by the device's own key.",
    action:
      'The device must sign the report with the key of its current certificate; re-enroll it if its key changed.',
  },
  EW_TUF_KEY_INVALID: {
    category: 'internal',
    meaning:
      'A TUF signing key or root signature file of the manager cannot be read or does not match the root metadata.',
    action:
      'Restore the key files under `<dataDir>/pki/tuf/` from backup, or sign the root again (see docs/updates.md).',
  },
  EW_EVIDENCE_NOT_FOUND: {
    category: 'not-found',
    meaning: 'No evidence bundle has this id.',
    action: 'List evidence with `edgeward evidence list` and use an id from there.',
  },
  EW_EVIDENCE_INVALID: {
    category: 'invalid-input',
    meaning:
      'An evidence bundle does not verify: its manifest signature does not hold with the device certificate, or an item or the whole bundle does not give the hash its manifest names.',
    action:
      'Treat the bundle as untrustworthy: capture again (`edgeward devices capture ID`) and keep the refused one for inspection.',
  },
  EW_EVIDENCE_CHUNK_INVALID: {
    category: 'invalid-input',
    meaning:
      'An uploaded evidence chunk does not match the signed manifest: wrong length, not at a chunk boundary, or its SHA-256 differs from the one the manifest lists.',
    action:
      'The chunk was refused and nothing of it was stored; the device resends it from its copy. Repeated refusals point at tampering or a damaged copy on the device.',
  },
  EW_EVIDENCE_OFFSET_MISMATCH: {
    category: 'conflict',
    meaning: 'An evidence chunk was sent for another offset than the one the manager expects next.',
    action: 'Resume at the `receivedBytes` the reply names (the agent does this by itself).',
  },
  EW_INCIDENT_NOT_FOUND: {
    category: 'not-found',
    meaning: 'No incident has this id.',
    action: 'List incidents with `edgeward incidents list` and use an id from there.',
  },
  EW_INCIDENT_STATE_INVALID: {
    category: 'conflict',
    meaning:
      'The incident cannot move to that state: states go forward (open, contained, eradicated, recovered, closed) and a closed incident stays closed.',
    action: 'Check the current state with `edgeward incidents show ID` and move to a later one.',
  },
  EW_PLAYBOOK_STEP_NOT_FOUND: {
    category: 'not-found',
    meaning: "The incident's playbook has no step with this id.",
    action: 'See the checklist with `edgeward incidents show ID` and use a step id from there.',
  },
  EW_DEVICE_AUDIT_DIVERGED: {
    category: 'conflict',
    meaning:
      "A device's audit chain no longer extends what the manager anchored before: entries were rewritten, removed or reordered on the device, or a checkpoint is not signed by the device key.",
    action:
      "Treat it as tampering on the device: keep the manager's anchored copy (`edgeward audit verify --device ID`), capture evidence and isolate the device.",
  },
  EW_DATABASE_UNAVAILABLE: {
    category: 'unavailable',
    meaning: 'The database could not be opened or reached.',
    action: 'Check the `database` setting and that the database server accepts connections.',
  },
  EW_MIGRATION_FAILED: {
    category: 'internal',
    meaning: 'A schema migration failed; the database was left at the previous version.',
    action: 'Read the cause in the message, fix the database, and start again.',
  },
  EW_SITE_NOT_FOUND: {
    category: 'not-found',
    meaning: 'No site has this id.',
    action: 'List sites with `edgeward sites list` and use an id from there.',
  },
  EW_SITE_EXISTS: {
    category: 'conflict',
    meaning: 'A site with this id already exists.',
    action: 'Choose another id, or use the existing site (`edgeward sites show ID`).',
  },
  EW_SITE_IDENTITY_REQUIRED: {
    category: 'forbidden',
    meaning: 'Only a site manager, with its site certificate, may call this part of the device API.',
    action:
      'Start a site manager with `edgeward manager start --role site --upstream URL --upstream-token TOKEN`; devices use the other routes.',
  },
  EW_SITE_DEVICE_FOREIGN: {
    category: 'forbidden',
    meaning: 'A site sent events or a summary for a device that belongs to the hub or to another site.',
    action: 'Check that each device enrolled at this site; a device moved between sites must enroll again.',
  },
  EW_SITE_ALERT_FOREIGN: {
    category: 'forbidden',
    meaning:
      "A site sent an alert whose id the hub holds as its own or another site's, or that clashes with another alert of the site for the same rule and group.",
    action:
      "A site sends only the alerts its own rules raised. If the site's database was replaced, resolve the site's old alerts at the hub and check the site's data directory.",
  },
  EW_SITE_AUDIT_DIVERGED: {
    category: 'conflict',
    meaning:
      "A site's audit chain no longer extends what the hub anchored before: entries were rewritten, removed or reordered at the site, or a checkpoint is not signed by the site's key.",
    action:
      "Treat it as tampering at the site: keep the hub's anchored copy (`edgeward audit verify --site ID`), find out who changed the site's database, and revoke the site (`edgeward sites revoke ID`) if it cannot be trusted.",
  },
  EW_SITE_REVOKED: {
    category: 'forbidden',
    meaning: 'The hub revoked this site: its identity and its delegated CA are no longer trusted.',
    action:
      'A revoked site cannot come back: declare a new site with `edgeward sites create ID` and enroll its devices there.',
  },
  EW_SITE_OVERLAY_REFUSED: {
    category: 'forbidden',
    meaning:
      'A site overlay was refused: not signed by the key delegated to the site, expired, editing settings outside its delegation, or loosening a hub floor.',
    action:
      'Read the reason in the message; edit only delegated settings, never loosen a floor, give every override an expiry, and sign with the site key.',
  },
  EW_SITE_TIER_NOT_ALLOWED: {
    category: 'forbidden',
    meaning:
      'A site may not have lower sites, or a lower site asked for more than its region allows (tiers deeper than the fleet root permits, or a longer offline budget than the region has).',
    action:
      "Create lower sites only on a region (`edgeward sites create ID --region` on the hub), give them an offline budget no longer than the region's, and nest no deeper than hub, region, site.",
  },
  EW_SITE_NOT_ENROLLED: {
    category: 'invalid-input',
    meaning: 'A site manager has no identity at its hub yet and was given no way to get one.',
    action:
      'Start it once with `--upstream-token TOKEN --upstream-ca-fingerprint FP` (from `edgeward sites create ID`); later starts need neither.',
  },
  EW_SITE_ARTIFACTS_FROM_HUB: {
    category: 'forbidden',
    meaning:
      "A site manager was asked to publish an artifact or change the TUF root: a site only mirrors the hub's signed artifacts and metadata.",
    action:
      'Upload the artifact (or install the root) at the hub; the site mirrors it at its next sync and can then run a rollout of it.',
  },
  EW_SITE_CACHE_FULL: {
    category: 'unavailable',
    meaning: "A hub artifact does not fit in the site's artifact cache, so the site did not mirror it.",
    action:
      "Raise the site's `siteArtifactCacheMaxBytes` (EDGEWARD_SITE_ARTIFACT_CACHE_MAX_BYTES) or free disk space; the site retries at its next sync.",
  },
  EW_UPSTREAM_UNREACHABLE: {
    category: 'unavailable',
    meaning: "The site's hub could not be reached or did not answer.",
    action:
      'Nothing is lost: the site keeps enrolling, enforcing and storing events, and forwards them when the hub answers. Check the link and the hub if it lasts.',
  },
  EW_INTERNAL: {
    category: 'internal',
    meaning: 'An unexpected error; this is a defect.',
    action: 'Report it with the log lines around it.',
  },
} as const satisfies Record<string, ErrorDefinition>;

export type ErrorCode = keyof typeof errorCatalog;

/** HTTP status per category: the one mapping used by both APIs. */
export const httpStatusByCategory: Record<ErrorCategory, number> = {
  'invalid-input': 400,
  unauthenticated: 401,
  forbidden: 403,
  'not-found': 404,
  conflict: 409,
  unavailable: 503,
  internal: 500,
};

/** CLI exit code per category, documented in the README. */
export const exitCodeByCategory: Record<ErrorCategory, number> = {
  internal: 1,
  'invalid-input': 2,
  'not-found': 3,
  unauthenticated: 4,
  forbidden: 4,
  conflict: 5,
  unavailable: 6,
};
