/* SPDX-License-Identifier: MIT */
/*
 * Chapter 07, second and third files — the metadata records of
 * __cluster_metadata (07_metadata.c) and the image they build (07_image.c).
 *
 * Single-threaded. Decoding allocates only the arrays of a record (freed by
 * meta_record_fini); its strings and bytes are views into the input.
 */
#ifndef SAMSA_METADATA_H
#define SAMSA_METADATA_H

#include "00_base.h"
#include "04_codec.h"

/* KAFKA: AbstractApiMessageSerde.DEFAULT_FRAME_VERSION, the first uvarint
 * of every metadata record's value. */
#define META_FRAME_VERSION 1

/* KAFKA: the "apiKey" of each metadata/<Name>.json (MetadataRecordType). */
enum meta_record_type {
	META_REGISTER_BROKER = 0,
	META_UNREGISTER_BROKER = 1,
	META_TOPIC = 2,
	META_PARTITION = 3,
	META_CONFIG = 4,
	META_PARTITION_CHANGE = 5,
	META_FENCE_BROKER = 7,
	META_UNFENCE_BROKER = 8,
	META_REMOVE_TOPIC = 9,
	META_USER_SCRAM_CREDENTIAL = 11,
	META_FEATURE_LEVEL = 12,
	META_PRODUCER_IDS = 15,
	META_BROKER_REGISTRATION_CHANGE = 17,
	META_ACCESS_CONTROL_ENTRY = 18,
	META_REMOVE_ACCESS_CONTROL_ENTRY = 19,
	META_NO_OP = 20,
	META_REMOVE_USER_SCRAM_CREDENTIAL = 22,
	META_TYPE_COUNT /* one past the largest key */
};

/* KAFKA: PartitionChangeRecord.Leader: -2 leaves the leader as it is. */
#define META_NO_LEADER_CHANGE (-2)
#define META_NO_LEADER (-1)
/* KAFKA: LeaderRecoveryState (KIP-704). */
#define META_RECOVERED 0
#define META_RECOVERING 1
/* KAFKA: ConfigResource.Type, ConfigRecord.ResourceType. */
#define META_RESOURCE_TOPIC 2
#define META_RESOURCE_BROKER 4
/* KAFKA: BrokerRegistrationFencingChange (BrokerRegistrationChangeRecord). */
#define META_FENCE_CHANGE_FENCE 1
#define META_FENCE_CHANGE_UNFENCE (-1)

/* An array field: n elements at v (owned), n == -1 for a null array.
 * Elements are int32_t, struct wire_uuid, or the struct the field names. */
struct meta_array {
	int32_t n;
	void *v; /* owned: freed by meta_record_fini */
};

/* KAFKA: RegisterBrokerRecord.EndPoints[] (BrokerEndpoint). */
struct meta_endpoint {
	struct wire_str name; /* the listener name, "PLAINTEXT" */
	struct wire_str host;
	uint16_t port;
	int16_t security_protocol; /* KAFKA: SecurityProtocol id, 0 PLAINTEXT */
};

/* KAFKA: RegisterBrokerRecord.Features[] (BrokerFeature). */
struct meta_broker_feature {
	struct wire_str name;
	int16_t min_supported_version;
	int16_t max_supported_version;
};

/* One metadata record, any type: every field of every supported record,
 * named as in the JSON; a type uses the fields its schema lists (the
 * table in 07_metadata.c) and leaves the others zero. Strings and bytes
 * are views (valid until the decoded buffer is freed); arrays are owned. */
struct meta_record {
	int16_t type;    /* enum meta_record_type */
	int16_t version; /* the record's version */
	int32_t broker_id;      /* BrokerId, and Id of Fence/Unfence */
	int64_t broker_epoch;   /* BrokerEpoch, and Epoch of Fence/Unfence */
	bool is_migrating_zk_broker;
	struct wire_uuid incarnation_id;
	struct meta_array endpoints; /* struct meta_endpoint */
	struct meta_array features;  /* struct meta_broker_feature */
	struct wire_str rack;        /* nullable */
	bool fenced;                 /* RegisterBrokerRecord */
	bool in_controlled_shutdown; /* RegisterBrokerRecord v1+ */
	int8_t fenced_change;        /* BrokerRegistrationChangeRecord.Fenced */
	int8_t shutdown_change;      /* ...InControlledShutdown: 0 or 1 */
	struct meta_array log_dirs;  /* struct wire_uuid */
	struct wire_str name;        /* topic, config, feature or user name */
	struct wire_uuid topic_id;
	int32_t partition_id;
	struct meta_array replicas;          /* int32_t; null = unchanged */
	struct meta_array isr;               /* int32_t; null = unchanged */
	struct meta_array removing_replicas; /* int32_t */
	struct meta_array adding_replicas;   /* int32_t */
	int32_t leader;               /* -1 none; -2 unchanged (Change) */
	int8_t leader_recovery_state; /* -1 unchanged (Change) */
	int32_t leader_epoch;
	int32_t partition_epoch;
	struct meta_array directories;      /* struct wire_uuid */
	struct meta_array elr;              /* EligibleLeaderReplicas */
	struct meta_array last_known_elr;   /* int32_t */
	int8_t resource_type;               /* Config and ACL records */
	struct wire_str resource_name;
	struct wire_str value;              /* ConfigRecord; null deletes */
	int64_t next_producer_id;
	int16_t feature_level;
	struct wire_uuid acl_id;            /* ACL records' Id */
	int8_t pattern_type;
	struct wire_str principal;
	struct wire_str host;
	int8_t operation;
	int8_t permission_type;
	int8_t mechanism;                   /* SCRAM records */
	struct wire_bytes salt;
	struct wire_bytes stored_key;
	struct wire_bytes server_key;
	int32_t iterations;
};

/* ---- Records ---- */

/* "TopicRecord" for META_TOPIC, or NULL for a type not supported. */
const char *meta_type_name(int16_t type);
/* The newest version samsa encodes of type (-1 if unsupported). */
int16_t meta_type_max_version(int16_t type);
/* Zero rec; every field of type gets its JSON default. */
void meta_record_init(struct meta_record *rec, int16_t type, int16_t version);
/* Free the arrays decoding allocated; rec is zero afterwards. */
void meta_record_fini(struct meta_record *rec);
/* Append rec's framed bytes to out; KB_ERR_INVAL for a bad type/version/field. */
int meta_record_encode(const struct meta_record *rec, struct kb_buf *out);
/* Decode exactly len bytes (views borrow p); KB_ERR_CORRUPT; fini even on error. */
int meta_record_decode(const void *p, size_t len, struct meta_record *rec);
/* Append rec as kafka-dump-log --cluster-metadata-decoder's JSON line. */
int meta_record_format(const struct meta_record *rec, struct kb_buf *out);

/* ---- The image ---- */

/* A record the image keeps whole: its own encoded copy and the decoded
 * view into it. Fields are read through rec. */
struct meta_kept {
	struct kb_buf bytes;   /* owned: rec's views point here */
	struct meta_record rec; /* owned arrays */
};

/* KAFKA: BrokerRegistration in ClusterImage. */
struct meta_broker {
	int32_t id;
	int64_t epoch;
	bool fenced;
	bool in_controlled_shutdown;
	struct meta_kept reg; /* owned: the RegisterBrokerRecord (endpoints,
				 rack, incarnation id) */
};

/* A replica list the image owns. */
struct meta_ids {
	int32_t n;
	int32_t *v; /* owned */
};

/* KAFKA: PartitionRegistration in TopicImage. */
struct meta_partition {
	struct meta_ids replicas, isr, removing_replicas, adding_replicas;
	int32_t leader; /* -1 when none */
	int32_t leader_epoch;
	int32_t partition_epoch;
	int8_t leader_recovery_state;
};

/* KAFKA: TopicImage: partitions[i] is partition i. */
struct meta_topic {
	char *name; /* owned */
	struct wire_uuid id;
	int32_t partition_count;
	struct meta_partition *partitions; /* owned */
};

/* One key of ConfigurationsImage: (resource type, resource) -> value. */
struct meta_config {
	int8_t resource_type;
	char *resource_name; /* owned; "" for the cluster-wide default */
	char *name;          /* owned */
	char *value;         /* owned, never NULL */
};

/* KAFKA: FeaturesImage: name -> finalized level (> 0). */
struct meta_feature {
	char *name; /* owned */
	int16_t level;
};

/* KAFKA: MetadataImage — the state the log describes. Each array owns
 * its elements; n_* counts them. Applied to only by meta_apply. */
struct meta_image {
	struct meta_broker *brokers;
	int32_t n_brokers;
	struct meta_topic *topics;
	int32_t n_topics;
	struct meta_config *configs;
	int32_t n_configs;
	struct meta_feature *features;
	int32_t n_features;
	struct meta_kept *acls;  /* AccessControlEntryRecords */
	int32_t n_acls;
	struct meta_kept *scram; /* UserScramCredentialRecords */
	int32_t n_scram;
	int64_t next_producer_id; /* KAFKA: ProducerIdsImage, -1 at first */
};

/* An empty image. */
void meta_image_init(struct meta_image *img);
/* Free everything the image owns. */
void meta_image_fini(struct meta_image *img);
/* Apply one committed record; on NOTFOUND/EXISTS/INVAL the image is unchanged. */
int meta_apply(struct meta_image *img, const struct meta_record *rec);
/* Assert the image's numbered invariants (07_image.c header); n log n. */
void meta_check(const struct meta_image *img);

/* Lookups below: borrowed results, valid until the next meta_apply. */
const struct meta_broker *meta_broker_find(const struct meta_image *img,
					   int32_t id);
const struct meta_topic *meta_topic_find(const struct meta_image *img,
					 const char *name);
const struct meta_topic *meta_topic_find_id(const struct meta_image *img,
					    struct wire_uuid id);
/* The value of a config key, or NULL when not set. */
const char *meta_config_get(const struct meta_image *img, int8_t type,
			    const char *resource, const char *name);
/* A feature's finalized level, 0 when not set. */
int16_t meta_feature_level(const struct meta_image *img, const char *name);

#endif
