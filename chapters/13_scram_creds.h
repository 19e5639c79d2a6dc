/* SPDX-License-Identifier: MIT */
/*
 * Chapter 13 — security, part SCRAM credentials: where SCRAM users live
 * (UserScramCredentialRecords in chapter 07's metadata log), the two admin
 * APIs that change and list them, and `samsa format --add-scram`. The only
 * surface later chapters may use; the lesson is in 13_scram_creds.c.
 * Single-threaded: the reactor thread owns struct scram_node.
 */
#ifndef SAMSA_SCRAM_CREDS_H
#define SAMSA_SCRAM_CREDS_H

#include "00_base.h"
#include "05_server.h"
#include "07_metadata.h"
#include "07_controller.h"
#include "13_scram.h"

/* KAFKA: kafka-storage's file of bootstrap records is bootstrap.checkpoint;
 * samsa's holds only the --add-scram credentials (docs/13_scram_creds.md). */
#define SCRAM_BOOTSTRAP_FILE "bootstrap.scram"
/* --add-scram credentials one format may add. */
#define SCRAM_BOOTSTRAP_MAX 64

/* The credential for (user, mech) in img: KB_OK and *out, or KB_ERR_NOTFOUND. */
int scram_creds_lookup(const struct meta_image *img, const char *user,
		       enum scram_mechanism mech, struct scram_credential *out);
/* KAFKA: kafka-storage format --add-scram 'SCRAM-SHA-512=[name=alice,password=alice-secret]' (iterations=N, salt=... optional): a credential with a random salt; KB_ERR_INVAL with why. */
int scram_creds_parse_arg(const char *arg, struct scram_credential *out,
			  char *why, size_t why_len);
/* Write creds[0..n) as <log_dir>/SCRAM_BOOTSTRAP_FILE, durably (replaces). */
int scram_creds_bootstrap_write(const char *log_dir,
				const struct scram_credential *creds, int n);
/* Read them back into creds (cap SCRAM_BOOTSTRAP_MAX); *n 0 and KB_OK when there is no file; KB_ERR_CORRUPT. */
int scram_creds_bootstrap_read(const char *log_dir,
			       struct scram_credential *creds, int *n);

/* Controller (a ctrl_decide_fn): AlterUserScramCredentials -> UserScramCredentialRecords and removals. */
int scram_decide_alter(void *ctx, struct ctrl *c, const struct ctrl_input *in,
		       struct ctrl_output *out);
/* The DescribeUserScramCredentials v0 response body for the request in r, from img. KB_ERR_PROTO. */
int scram_describe_write(struct wire_reader *r, const struct meta_image *img,
			 struct wire_writer *w);
/* The AlterUserScramCredentials v0 response to the request in r with error for every user. */
int scram_alter_error_write(struct wire_reader *r, int16_t error,
			    struct wire_writer *w);

struct raft_node;
struct ctrl_node;
struct topic_manager;

/* What scram_node_open needs: a node's parts and its log directory. */
struct scram_node_config {
	struct net_server *srv;   /* borrowed */
	struct raft_node *rn;     /* borrowed: its image holds the credentials */
	struct topic_manager *tm; /* borrowed: the broker part, or NULL */
	struct ctrl_node *cn;     /* borrowed: the controller part, or NULL */
	const char *log_dir;      /* borrowed: where format left bootstrap.scram */
};

struct scram_node;

/* Serve the two APIs, decide Alter on the controller, propose the bootstrap credentials once when leading an empty log; owned *out. */
int scram_node_open(const struct scram_node_config *cfg, struct scram_node **out);
/* Unsubscribe and free (NULL-safe); before the parts close. */
void scram_node_close(struct scram_node *sn);
/* A sasl_scram_lookup_fn over the node's image; ctx is the struct scram_node. */
int scram_node_lookup(void *ctx, const char *user, enum scram_mechanism mech,
		      struct scram_credential *out);
/* Assert the invariants of 13_scram_creds.c on sn. */
void scram_node_check(const struct scram_node *sn);

#endif
