// Package certs manages a self-signed CA and the webhook's serving
// certificate: bootstrap at start, renewal and CA rotation before expiry,
// caBundle injection into the Mutating/ValidatingWebhookConfigurations, and
// publication into the directory that controller-runtime's webhook server
// reads (and hot-reloads with its certwatcher).
//
// # Store
//
// In a cluster, everything lives in one Secret of type kubernetes.io/tls
// shared by all replicas:
//
//	tls.crt, tls.key     serving certificate (ECDSA P-256) and key
//	ca.crt               CA bundle: every unexpired CA (what caBundle is set to)
//	ca.key               key of the signing CA (its certificate is in ca.crt)
//	ca-next.crt/.key     during a CA rotation: the new CA, trusted but not signing yet
//	ca-next.introduced   when that CA joined ca.crt
//
// Replicas create it with Create (AlreadyExists: re-read) and change it with
// Update carrying the resourceVersion they read (Conflict: re-read, retry),
// so concurrent replicas converge on one CA. Without a cluster (empty
// SecretName) the same keys are files of a local directory, guarded by a lock
// file.
//
// # Rotation
//
// The serving certificate (default 1 year) is reissued at 2/3 of its
// lifetime, when less than RenewBefore remains, when its SANs differ from the
// Service's (svc, svc.ns, svc.ns.svc, svc.ns.svc.cluster.local + extras), or
// when it is not signed by the signing CA. It never outlives its CA.
//
// The CA (default 10 years) is rotated with an overlap, so that no replica
// ever serves a certificate whose CA is not in the caBundle:
//
//  1. at 2/3 of the CA's lifetime a new CA is added to ca.crt (not signing);
//  2. every replica patches the bundle (old + new) into the webhooks;
//  3. after CAOverlap, and once the replica doing it has confirmed the new
//     bundle in every existing webhook configuration, the new CA becomes the
//     signing CA and a new serving certificate is issued;
//  4. the old CA leaves the bundle only when it expires, and with it the last
//     serving certificate it signed.
//
// A replica publishes a serving certificate into CertDir only after the
// bundle containing its CA is patched (or when it already confirmed it).
//
// # Running it
//
// Call Ensure once before starting the webhook server (certwatcher needs the
// files), then add the Manager to the controller-runtime manager: Start loops
// until the context ends. It does not need leader election (every replica
// needs the files; the Secret is written with optimistic concurrency and the
// caBundle patch is idempotent), and it never deletes a webhook
// configuration. Use Ready as a readyz check. Pass a client that reads from
// the API server (client.New), not a cached one.
package certs
