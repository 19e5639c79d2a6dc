/* SPDX-License-Identifier: MIT */
/*
 * Chapter 07, third file — the metadata image: what replaying the
 * metadata records of __cluster_metadata-0 in order builds.
 *
 * Concept:
 *   Every node keeps an image of the cluster (brokers, topics and their
 *   partitions, configs, the producer-id block, feature levels, ACLs, SCRAM
 *   credentials) and changes it only by applying committed records, one at
 *   a time, in log order. The same log gives every node the same image.
 *
 * Kafka:
 *   MetadataImage and MetadataDelta.replay (ClusterImage, TopicsImage,
 *   ConfigurationsImage, ProducerIdsImage, FeaturesImage, AclsImage,
 *   ScramImage); PartitionRegistration.merge for PartitionChangeRecord.
 *
 * Interface:
 *   - meta_image_init, then meta_apply each committed record in log order;
 *     an error (a record that contradicts the image) leaves it unchanged.
 *   - Lookups return borrowed pointers, valid until the next meta_apply.
 *   - meta_apply checks what each record touched (check_touched); the
 *     tests and sanitizer builds run the whole meta_check after each.
 *
 * Invariants (meta_check):
 *   1. Broker ids are unique.
 *   2. Topic names are unique and non-empty; topic ids unique, not zero.
 *   3. A topic's partitions[i] is partition i: ids 0..n-1, no gaps.
 *   4. In each partition ISR is a subset of replicas, and the leader is -1
 *      or in the ISR.
 *   5. Config keys (type, resource, name) are unique; values not null.
 *   6. Feature names unique, levels > 0; ACL ids unique.
 *
 * Simplifications:
 *   One mutable struct, not Kafka's immutable image plus a delta; arrays
 *   searched linearly (a cluster has few brokers and, here, few topics).
 *   Broker log dirs and partition directories (JBOD) are not kept.
 *
 * See also: docs/07_image.md, diagrams/07_image.dot, tests/07_raft_test.c
 *   ("Metadata records and the image"); read before: 07_metadata.c.
 *   Uses chapters 00 (base), 04 (codec).
 */
#include <assert.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "00_base.h"
#include "04_codec.h"
#include "07_metadata.h"

/* ---- The image: lifecycle ---- */

static int kept_init(struct meta_kept *k, const struct meta_record *rec);
static void kept_fini(struct meta_kept *k);
static int grow(void **arr, int32_t n, size_t size);
static void partition_fini(struct meta_partition *p);
static void topic_fini(struct meta_topic *t);
static void config_fini(struct meta_config *c);
static int dup_text(struct wire_str s, char **out);
static bool ids_has(const struct meta_ids *ids, int32_t id);
static int ids_set(struct meta_ids *out, const int32_t *v, int32_t n);
static bool partition_valid(const struct meta_partition *p);
static void check_topic(const struct meta_topic *t);
static void check_touched(const struct meta_image *img,
			  const struct meta_record *rec, int rc);
static struct meta_broker *broker_at(struct meta_image *img, int32_t id);
static int32_t topic_index_id(const struct meta_image *img,
			      struct wire_uuid id);
static int32_t config_index(const struct meta_image *img, int8_t type,
			    struct wire_str resource, struct wire_str name);

/* An empty image: no brokers, topics or configs; no producer id yet. */
void meta_image_init(struct meta_image *img)
{
	memset(img, 0, sizeof *img);
	img->next_producer_id = -1;
}

/* Frees every element, then the arrays holding them. */
void meta_image_fini(struct meta_image *img)
{
	for (int32_t i = 0; i < img->n_brokers; i++)
		kept_fini(&img->brokers[i].reg);
	for (int32_t i = 0; i < img->n_topics; i++)
		topic_fini(&img->topics[i]);
	for (int32_t i = 0; i < img->n_configs; i++)
		config_fini(&img->configs[i]);
	for (int32_t i = 0; i < img->n_features; i++)
		free(img->features[i].name);
	for (int32_t i = 0; i < img->n_acls; i++)
		kept_fini(&img->acls[i]);
	for (int32_t i = 0; i < img->n_scram; i++)
		kept_fini(&img->scram[i]);
	free(img->brokers);
	free(img->topics);
	free(img->configs);
	free(img->features);
	free(img->acls);
	free(img->scram);
	memset(img, 0, sizeof *img);
}

/* ---- The image: brokers ---- */

/* KAFKA: ClusterDelta.replay(RegisterBrokerRecord) — a new registration
 * replaces the old one of that id (a restart brings a new epoch). */
static int apply_register(struct meta_image *img, const struct meta_record *rec)
{
	struct meta_kept k;
	int rc = kept_init(&k, rec);
	if (rc)
		return rc;
	struct meta_broker *b = broker_at(img, rec->broker_id);
	if (b) {
		kept_fini(&b->reg);
	} else if ((rc = grow((void **)&img->brokers, img->n_brokers,
			      sizeof *b)) != KB_OK) {
		kept_fini(&k);
		return rc;
	} else {
		b = &img->brokers[img->n_brokers++];
	}
	b->id = rec->broker_id;
	b->epoch = rec->broker_epoch;
	b->fenced = rec->fenced;
	b->in_controlled_shutdown = rec->in_controlled_shutdown;
	b->reg = k;
	return KB_OK;
}

/* KAFKA: ClusterDelta.getBrokerOrThrow — the broker must be registered
 * and the record must name its current epoch. */
static int broker_for(struct meta_image *img, const struct meta_record *rec,
		      struct meta_broker **out)
{
	*out = broker_at(img, rec->broker_id);
	if (!*out)
		return KB_ERR_NOTFOUND;
	return (*out)->epoch == rec->broker_epoch ? KB_OK : KB_ERR_INVAL;
}

/* Fence, Unfence, BrokerRegistrationChange (KAFKA: FENCE 1, NONE 0,
 * UNFENCE -1; InControlledShutdown NONE 0, IN_CONTROLLED_SHUTDOWN 1). */
static int apply_broker_change(struct meta_image *img,
			       const struct meta_record *rec)
{
	struct meta_broker *b;
	int rc = broker_for(img, rec, &b);
	if (rc)
		return rc;
	int8_t fence = rec->type == META_FENCE_BROKER ? META_FENCE_CHANGE_FENCE
		     : rec->type == META_UNFENCE_BROKER ? META_FENCE_CHANGE_UNFENCE
		     : rec->fenced_change;
	int8_t shutdown = rec->type == META_BROKER_REGISTRATION_CHANGE
				  ? rec->shutdown_change : 0;
	if (fence < -1 || fence > 1 || shutdown < 0 || shutdown > 1)
		return KB_ERR_INVAL;
	if (fence)
		b->fenced = fence == META_FENCE_CHANGE_FENCE;
	if (shutdown)
		b->in_controlled_shutdown = true;
	return KB_OK;
}

/* KAFKA: UnregisterBrokerRecord removes the registration of that epoch. */
static int apply_unregister(struct meta_image *img, const struct meta_record *rec)
{
	struct meta_broker *b;
	int rc = broker_for(img, rec, &b);
	if (rc)
		return rc;
	kept_fini(&b->reg);
	size_t i = (size_t)(b - img->brokers);
	memmove(b, b + 1, (size_t)(--img->n_brokers - i) * sizeof *b);
	return KB_OK;
}

/* ---- The image: topics and partitions ---- */

/* KAFKA: TopicsDelta.replay(TopicRecord). A second topic of that name or
 * id contradicts the log: the controller never writes one. */
static int apply_topic(struct meta_image *img, const struct meta_record *rec)
{
	static const struct wire_uuid zero;
	if (rec->name.len <= 0 || !memcmp(&rec->topic_id, &zero, sizeof zero))
		return KB_ERR_INVAL;
	if (topic_index_id(img, rec->topic_id) >= 0)
		return KB_ERR_EXISTS;
	for (int32_t i = 0; i < img->n_topics; i++)
		if (wire_str_eq(rec->name, img->topics[i].name))
			return KB_ERR_EXISTS;
	int rc = grow((void **)&img->topics, img->n_topics, sizeof(struct meta_topic));
	if (rc)
		return rc;
	struct meta_topic *t = &img->topics[img->n_topics];
	memset(t, 0, sizeof *t);
	rc = dup_text(rec->name, &t->name);
	if (rc)
		return rc;
	t->id = rec->topic_id;
	img->n_topics++;
	return KB_OK;
}

/* Fill p from the lists a PartitionRecord or a change carries. */
static int partition_lists(struct meta_partition *p, const struct meta_record *rec)
{
	const struct meta_array *in[] = {&rec->replicas, &rec->isr,
					 &rec->removing_replicas, &rec->adding_replicas};
	struct meta_ids *out[] = {&p->replicas, &p->isr, &p->removing_replicas,
				  &p->adding_replicas};
	for (int i = 0; i < 4; i++) {
		if (in[i]->n < 0) /* null: unchanged */
			continue;
		int rc = ids_set(out[i], in[i]->v, in[i]->n);
		if (rc)
			return rc;
	}
	return KB_OK;
}

/* Put np in slot i of t (i == count appends), if it is valid. takes: np. */
static int partition_install(struct meta_topic *t, int32_t i,
			     struct meta_partition *np)
{
	if (!partition_valid(np)) {
		partition_fini(np);
		return KB_ERR_INVAL;
	}
	if (i == t->partition_count) {
		int rc = grow((void **)&t->partitions, i, sizeof *np);
		if (rc) {
			partition_fini(np);
			return rc;
		}
		t->partition_count++;
	} else {
		partition_fini(&t->partitions[i]);
	}
	t->partitions[i] = *np;
	return KB_OK;
}

/* KAFKA: TopicDelta.replay(PartitionRecord) — the whole registration of
 * one partition. INVARIANT 3: only an existing id or the next one. */
static int apply_partition(struct meta_image *img, const struct meta_record *rec)
{
	int32_t ti = topic_index_id(img, rec->topic_id);
	if (ti < 0)
		return KB_ERR_NOTFOUND;
	struct meta_topic *t = &img->topics[ti];
	if (rec->partition_id < 0 || rec->partition_id > t->partition_count)
		return KB_ERR_INVAL;
	struct meta_partition np = {
		.leader = rec->leader, .leader_epoch = rec->leader_epoch,
		.partition_epoch = rec->partition_epoch,
		.leader_recovery_state = rec->leader_recovery_state,
	};
	int rc = partition_lists(&np, rec);
	if (rc) {
		partition_fini(&np);
		return rc;
	}
	return partition_install(t, rec->partition_id, &np);
}

/* KAFKA: PartitionRegistration.merge — every field is an optional delta:
 * null lists and leader -2 (leaderRecoveryState -1) leave things as they
 * are; a new leader bumps leader_epoch; every change bumps partition_epoch. */
static int apply_partition_change(struct meta_image *img,
				  const struct meta_record *rec)
{
	int32_t ti = topic_index_id(img, rec->topic_id);
	if (ti < 0)
		return KB_ERR_NOTFOUND;
	struct meta_topic *t = &img->topics[ti];
	if (rec->partition_id < 0 || rec->partition_id >= t->partition_count)
		return KB_ERR_NOTFOUND;
	const struct meta_partition *old = &t->partitions[rec->partition_id];
	struct meta_partition np = *old;
	np.replicas = np.isr = np.removing_replicas = np.adding_replicas =
		(struct meta_ids){0, NULL};
	int rc = ids_set(&np.replicas, old->replicas.v, old->replicas.n);
	rc = rc ? rc : ids_set(&np.isr, old->isr.v, old->isr.n);
	rc = rc ? rc : ids_set(&np.removing_replicas, old->removing_replicas.v,
			       old->removing_replicas.n);
	rc = rc ? rc : ids_set(&np.adding_replicas, old->adding_replicas.v,
			       old->adding_replicas.n);
	rc = rc ? rc : partition_lists(&np, rec);
	if (rc) {
		partition_fini(&np);
		return rc;
	}
	if (rec->leader != META_NO_LEADER_CHANGE) {
		np.leader = rec->leader;
		np.leader_epoch++;
	}
	if (rec->leader_recovery_state != -1)
		np.leader_recovery_state = rec->leader_recovery_state;
	np.partition_epoch++;
	return partition_install(t, rec->partition_id, &np);
}

/* KAFKA: MetadataDelta.replay(RemoveTopicRecord) — the topic goes, with
 * its partitions and its configs (ConfigurationsDelta). */
static int apply_remove_topic(struct meta_image *img,
			      const struct meta_record *rec)
{
	int32_t ti = topic_index_id(img, rec->topic_id);
	if (ti < 0)
		return KB_ERR_NOTFOUND;
	struct meta_topic *t = &img->topics[ti];
	int32_t kept = 0;
	for (int32_t i = 0; i < img->n_configs; i++) {
		struct meta_config *c = &img->configs[i];
		if (c->resource_type == META_RESOURCE_TOPIC &&
		    !strcmp(c->resource_name, t->name))
			config_fini(c);
		else
			img->configs[kept++] = *c;
	}
	img->n_configs = kept;
	topic_fini(t);
	memmove(t, t + 1, (size_t)(--img->n_topics - ti) * sizeof *t);
	return KB_OK;
}

/* ---- The image: configs, producer ids, features ---- */

/* KAFKA: ConfigurationsDelta.replay — set a key; a null value deletes it. */
static int apply_config(struct meta_image *img, const struct meta_record *rec)
{
	int32_t i = config_index(img, rec->resource_type, rec->resource_name,
				 rec->name);
	if (rec->value.len < 0) {
		if (i >= 0) {
			config_fini(&img->configs[i]);
			img->configs[i] = img->configs[--img->n_configs];
		}
		return KB_OK;
	}
	char *value;
	int rc = dup_text(rec->value, &value);
	if (rc)
		return rc;
	if (i >= 0) {
		free(img->configs[i].value);
		img->configs[i].value = value;
		return KB_OK;
	}
	struct meta_config c = {rec->resource_type, NULL, NULL, value};
	rc = dup_text(rec->resource_name, &c.resource_name);
	rc = rc ? rc : dup_text(rec->name, &c.name);
	rc = rc ? rc : grow((void **)&img->configs, img->n_configs, sizeof c);
	if (rc) {
		config_fini(&c);
		return rc;
	}
	img->configs[img->n_configs++] = c;
	return KB_OK;
}

/* KAFKA: ProducerIdControlManager.replay — the next block only moves up. */
static int apply_producer_ids(struct meta_image *img,
			      const struct meta_record *rec)
{
	if (rec->next_producer_id <= img->next_producer_id)
		return KB_ERR_INVAL;
	img->next_producer_id = rec->next_producer_id;
	return KB_OK;
}

/* KAFKA: FeaturesDelta.replay — set a finalized level; level 0 removes. */
static int apply_feature_level(struct meta_image *img,
			       const struct meta_record *rec)
{
	if (rec->name.len <= 0 || rec->feature_level < 0)
		return KB_ERR_INVAL;
	int32_t i = 0;
	while (i < img->n_features && !wire_str_eq(rec->name, img->features[i].name))
		i++;
	if (i < img->n_features && rec->feature_level == 0) {
		free(img->features[i].name);
		img->features[i] = img->features[--img->n_features];
	} else if (i < img->n_features) {
		img->features[i].level = rec->feature_level;
	} else if (rec->feature_level > 0) {
		struct meta_feature f = {NULL, rec->feature_level};
		int rc = dup_text(rec->name, &f.name);
		rc = rc ? rc : grow((void **)&img->features, i, sizeof f);
		if (rc) {
			free(f.name);
			return rc;
		}
		img->features[img->n_features++] = f;
	}
	return KB_OK;
}

/* ---- The image: ACLs and SCRAM credentials (chapters 12-13) ---- */

/* The index of the kept record matching rec's key, or -1: an ACL by id,
 * a SCRAM credential by (name, mechanism). */
static int32_t kept_index(const struct meta_kept *arr, int32_t n,
			  const struct meta_record *rec, bool is_acl)
{
	for (int32_t i = 0; i < n; i++) {
		const struct meta_record *k = &arr[i].rec;
		if (is_acl ? !memcmp(&k->acl_id, &rec->acl_id, sizeof k->acl_id)
			: k->mechanism == rec->mechanism &&
				  k->name.len == rec->name.len &&
				  !memcmp(k->name.p, rec->name.p, (size_t)k->name.len))
			return i;
	}
	return -1;
}

/* KAFKA: AclsDelta and ScramDelta. An ACL id is added once and removed
 * once; a credential is replaced by a newer one and must exist to go. */
static int apply_kept(struct meta_kept **arr, int32_t *n,
		      const struct meta_record *rec, bool is_acl, bool add)
{
	int32_t i = kept_index(*arr, *n, rec, is_acl);
	if (!add) {
		if (i < 0)
			return KB_ERR_NOTFOUND;
		kept_fini(&(*arr)[i]);
		(*arr)[i] = (*arr)[--*n];
		return KB_OK;
	}
	if (is_acl && i >= 0)
		return KB_ERR_EXISTS;
	struct meta_kept k;
	int rc = kept_init(&k, rec);
	if (!rc && i < 0 && (rc = grow((void **)arr, *n, sizeof k)) != KB_OK)
		kept_fini(&k);
	if (rc)
		return rc;
	if (i >= 0)
		kept_fini(&(*arr)[i]);
	else
		i = (*n)++;
	(*arr)[i] = k;
	return KB_OK;
}

/* ---- The image: applying a record ---- */

/* One committed record, with Kafka's semantics; on an error the image is
 * as it was (each apply_* checks before it changes anything). */
int meta_apply(struct meta_image *img, const struct meta_record *rec)
{
	int rc;
	switch (rec->type) {
	case META_REGISTER_BROKER: rc = apply_register(img, rec); break;
	case META_UNREGISTER_BROKER: rc = apply_unregister(img, rec); break;
	case META_FENCE_BROKER:
	case META_UNFENCE_BROKER:
	case META_BROKER_REGISTRATION_CHANGE:
		rc = apply_broker_change(img, rec);
		break;
	case META_TOPIC: rc = apply_topic(img, rec); break;
	case META_PARTITION: rc = apply_partition(img, rec); break;
	case META_PARTITION_CHANGE: rc = apply_partition_change(img, rec); break;
	case META_REMOVE_TOPIC: rc = apply_remove_topic(img, rec); break;
	case META_CONFIG: rc = apply_config(img, rec); break;
	case META_PRODUCER_IDS: rc = apply_producer_ids(img, rec); break;
	case META_FEATURE_LEVEL: rc = apply_feature_level(img, rec); break;
	case META_ACCESS_CONTROL_ENTRY:
	case META_REMOVE_ACCESS_CONTROL_ENTRY:
		rc = apply_kept(&img->acls, &img->n_acls, rec, true,
				rec->type == META_ACCESS_CONTROL_ENTRY);
		break;
	case META_USER_SCRAM_CREDENTIAL:
	case META_REMOVE_USER_SCRAM_CREDENTIAL:
		rc = apply_kept(&img->scram, &img->n_scram, rec, false,
				rec->type == META_USER_SCRAM_CREDENTIAL);
		break;
	case META_NO_OP: rc = KB_OK; break; /* KAFKA: only moves the offset */
	default: rc = KB_ERR_INVAL; break;
	}
	check_touched(img, rec, rc);
	return rc;
}

/* ---- The image: invariants and lookups ---- */

/* After each apply: the invariants of what rec touched, in time linear in
 * one array, cheap enough to keep in every build. Sanitizer builds (and
 * the tests) run the whole meta_check. Compiled out by NDEBUG. */
static void check_touched(const struct meta_image *img,
			  const struct meta_record *rec, int rc)
{
#ifndef NDEBUG
#ifdef __SANITIZE_ADDRESS__
	meta_check(img);
#endif
	int32_t same = 0;
	for (int32_t i = 0; i < img->n_brokers; i++) /* INVARIANT 1 */
		same += img->brokers[i].id == rec->broker_id;
	assert(same <= 1);
	int32_t ti = topic_index_id(img, rec->topic_id);
	if (ti >= 0) { /* INVARIANTS 2-4 for this topic */
		for (int32_t i = 0; i < img->n_topics; i++)
			assert(i == ti || strcmp(img->topics[i].name, img->topics[ti].name));
		check_topic(&img->topics[ti]);
	}
	assert(rc || rec->type != META_CONFIG || rec->value.len < 0 ||
	       config_index(img, rec->resource_type, rec->resource_name,
			    rec->name) >= 0);
#else
	(void)img, (void)rec, (void)rc;
#endif
}

/* Invariants 3 and 4 for one topic's partitions. */
static void check_topic(const struct meta_topic *t)
{
	assert(t->partition_count >= 0);
	assert(t->partition_count == 0 || t->partitions);
	for (int32_t p = 0; p < t->partition_count; p++)
		assert(partition_valid(&t->partitions[p])); /* INVARIANT 4 */
}

/* Orders for the uniqueness checks: sort, then no two neighbours equal. */
static int topic_name_cmp(const void *a, const void *b)
{
	return strcmp((*(const struct meta_topic *const *)a)->name,
		      (*(const struct meta_topic *const *)b)->name);
}

static int topic_id_cmp(const void *a, const void *b)
{
	return memcmp(&(*(const struct meta_topic *const *)a)->id,
		      &(*(const struct meta_topic *const *)b)->id,
		      sizeof(struct wire_uuid));
}

static int config_key_cmp(const void *a, const void *b)
{
	const struct meta_config *x = *(const struct meta_config *const *)a;
	const struct meta_config *y = *(const struct meta_config *const *)b;
	int d = strcmp(x->resource_name, y->resource_name);
	if (x->resource_type != y->resource_type)
		return x->resource_type < y->resource_type ? -1 : 1;
	return d ? d : strcmp(x->name, y->name);
}

/* No two of the n items are equal under cmp; n log n, not n squared, so
 * a sanitizer build can afford it after every record. */
static void assert_unique(const void *items, size_t n, size_t size,
			  int (*cmp)(const void *, const void *))
{
	const void **v = n ? malloc(n * sizeof *v) : NULL;
	if (!v)
		return; /* nothing to compare, or no memory to check with */
	for (size_t i = 0; i < n; i++)
		v[i] = (const char *)items + i * size;
	qsort(v, n, sizeof *v, cmp);
	for (size_t i = 1; i < n; i++)
		assert(cmp(&v[i - 1], &v[i]) != 0);
	free(v);
}

/* Asserts invariants 1-6 of the header; for tests, debug and sanitizer builds. */
void meta_check(const struct meta_image *img)
{
	static const struct wire_uuid zero;
	for (int32_t i = 0; i < img->n_brokers; i++)
		for (int32_t j = i + 1; j < img->n_brokers; j++)
			assert(img->brokers[i].id != img->brokers[j].id);
	for (int32_t i = 0; i < img->n_topics; i++) {
		const struct meta_topic *t = &img->topics[i];
		assert(t->name && t->name[0]);
		assert(memcmp(&t->id, &zero, sizeof zero));
		check_topic(t);
	}
	assert_unique(img->topics, (size_t)img->n_topics, sizeof *img->topics,
		      topic_name_cmp);
	assert_unique(img->topics, (size_t)img->n_topics, sizeof *img->topics,
		      topic_id_cmp);
	for (int32_t i = 0; i < img->n_configs; i++) {
		const struct meta_config *c = &img->configs[i];
		assert(c->value && c->name && c->resource_name);
	}
	assert_unique(img->configs, (size_t)img->n_configs, sizeof *img->configs,
		      config_key_cmp);
	for (int32_t i = 0; i < img->n_features; i++) {
		assert(img->features[i].level > 0);
		for (int32_t j = i + 1; j < img->n_features; j++)
			assert(strcmp(img->features[i].name, img->features[j].name));
	}
	for (int32_t i = 0; i < img->n_acls; i++)
		assert(kept_index(img->acls, i, &img->acls[i].rec, true) < 0);
}

const struct meta_broker *meta_broker_find(const struct meta_image *img,
					   int32_t id)
{
	return broker_at((struct meta_image *)img, id);
}

const struct meta_topic *meta_topic_find(const struct meta_image *img,
					 const char *name)
{
	for (int32_t i = 0; i < img->n_topics; i++)
		if (!strcmp(img->topics[i].name, name))
			return &img->topics[i];
	return NULL;
}

const struct meta_topic *meta_topic_find_id(const struct meta_image *img,
					    struct wire_uuid id)
{
	int32_t i = topic_index_id(img, id);
	return i < 0 ? NULL : &img->topics[i];
}

const char *meta_config_get(const struct meta_image *img, int8_t type,
			    const char *resource, const char *name)
{
	int32_t i = config_index(img, type, wire_str_c(resource), wire_str_c(name));
	return i < 0 ? NULL : img->configs[i].value;
}

int16_t meta_feature_level(const struct meta_image *img, const char *name)
{
	for (int32_t i = 0; i < img->n_features; i++)
		if (!strcmp(img->features[i].name, name))
			return img->features[i].level;
	return 0;
}

/* ---- Image helpers ---- */

/* Keep a record whole: encode it into k's own bytes and decode those, so
 * its views live as long as k. returns owned k (kept_fini). */
static int kept_init(struct meta_kept *k, const struct meta_record *rec)
{
	kb_buf_init(&k->bytes);
	memset(&k->rec, 0, sizeof k->rec);
	int rc = meta_record_encode(rec, &k->bytes);
	rc = rc ? rc : meta_record_decode(k->bytes.data, k->bytes.len, &k->rec);
	if (rc)
		kept_fini(k);
	return rc == KB_ERR_CORRUPT ? KB_ERR_INVAL : rc;
}

static void kept_fini(struct meta_kept *k)
{
	meta_record_fini(&k->rec);
	kb_buf_fini(&k->bytes);
}

/* Room for element n of an array of n: capacity doubles at each power of
 * two (4, 8, 16, ...), so it is implied by n and needs no field. */
static int grow(void **arr, int32_t n, size_t size)
{
	if (n >= 4 && (n & (n - 1)))
		return KB_OK;
	size_t cap = n < 4 ? 4 : 2 * (size_t)n;
	void *p = realloc(*arr, cap * size);
	if (!p)
		return KB_ERR_NOMEM;
	*arr = p;
	return KB_OK;
}

static void partition_fini(struct meta_partition *p)
{
	free(p->replicas.v);
	free(p->isr.v);
	free(p->removing_replicas.v);
	free(p->adding_replicas.v);
}

static void topic_fini(struct meta_topic *t)
{
	for (int32_t i = 0; i < t->partition_count; i++)
		partition_fini(&t->partitions[i]);
	free(t->partitions);
	free(t->name);
}

static void config_fini(struct meta_config *c)
{
	free(c->resource_name);
	free(c->name);
	free(c->value);
}

/* A C string the image owns. KB_ERR_INVAL for null or for a NUL byte
 * inside (it would cut the name short and alias another). returns owned
 * *out (free()). */
static int dup_text(struct wire_str s, char **out)
{
	*out = NULL;
	if (s.len < 0 || memchr(s.p, 0, (size_t)s.len))
		return KB_ERR_INVAL;
	return wire_str_dup(s, out) ? KB_ERR_NOMEM : KB_OK;
}

static bool ids_has(const struct meta_ids *ids, int32_t id)
{
	for (int32_t i = 0; i < ids->n; i++)
		if (ids->v[i] == id)
			return true;
	return false;
}

/* Replace out's ids with a copy of v[0..n). */
static int ids_set(struct meta_ids *out, const int32_t *v, int32_t n)
{
	int32_t *copy = NULL;
	if (n > 0 && !(copy = malloc((size_t)n * sizeof *copy)))
		return KB_ERR_NOMEM;
	if (n > 0)
		memcpy(copy, v, (size_t)n * sizeof *copy);
	free(out->v);
	out->v = copy;
	out->n = n;
	return KB_OK;
}

/* INVARIANT 4: ISR within replicas; the leader -1 or in the ISR. */
static bool partition_valid(const struct meta_partition *p)
{
	for (int32_t i = 0; i < p->isr.n; i++)
		if (!ids_has(&p->replicas, p->isr.v[i]))
			return false;
	return p->leader == META_NO_LEADER || ids_has(&p->isr, p->leader);
}

static struct meta_broker *broker_at(struct meta_image *img, int32_t id)
{
	for (int32_t i = 0; i < img->n_brokers; i++)
		if (img->brokers[i].id == id)
			return &img->brokers[i];
	return NULL;
}

static int32_t topic_index_id(const struct meta_image *img, struct wire_uuid id)
{
	for (int32_t i = 0; i < img->n_topics; i++)
		if (!memcmp(&img->topics[i].id, &id, sizeof id))
			return i;
	return -1;
}

static int32_t config_index(const struct meta_image *img, int8_t type,
			    struct wire_str resource, struct wire_str name)
{
	for (int32_t i = 0; i < img->n_configs; i++) {
		const struct meta_config *c = &img->configs[i];
		if (c->resource_type == type && wire_str_eq(resource, c->resource_name) &&
		    wire_str_eq(name, c->name))
			return i;
	}
	return -1;
}
