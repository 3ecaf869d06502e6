/*
 * handlers.h - every API handler, one file per resource (h_<resource>.c).
 * Each returns 0 after req_reply() or a negative enum err.
 */
#ifndef CHAT4ALL_HANDLERS_H
#define CHAT4ALL_HANDLERS_H

#include "req.h"

/* h_auth.c */
int h_auth_register(struct req *r);
int h_auth_token(struct req *r);
int h_auth_refresh(struct req *r);
int h_auth_logout(struct req *r);

/* h_users.c */
int h_users_me(struct req *r);
int h_users_search(struct req *r);
int h_users_stream_ticket(struct req *r);

/* h_conversations.c */
int h_conversations_create(struct req *r);
int h_conversations_list(struct req *r);
int h_conversations_get(struct req *r);
int h_conversations_member_add(struct req *r);
int h_conversations_member_remove(struct req *r);

/* h_messages.c */
int h_messages_send(struct req *r);		/* /v1/conversations/{id}/messages */
int h_messages_send_body(struct req *r);	/* /v1/messages, id in the body */
int h_messages_list(struct req *r);
int h_messages_get(struct req *r);
int h_messages_receipts(struct req *r);
int h_messages_typing(struct req *r);

/* h_files.c */
int h_files_options(struct req *r);
int h_files_create(struct req *r);
int h_files_head(struct req *r);
int h_files_patch(struct req *r);
int h_files_delete(struct req *r);
int h_files_get(struct req *r);
int h_files_content(struct req *r);

/* h_channels.c */
int h_webhook_verify(struct req *r);
int h_webhook_receive(struct req *r);
int h_identities_list(struct req *r);
int h_identities_add(struct req *r);
int h_identities_verify(struct req *r);
int h_identities_delete(struct req *r);
int h_messages_deliveries(struct req *r);

/* h_admin.c */
int h_admin_moderation_list(struct req *r);
int h_admin_moderation_decide(struct req *r);
int h_admin_dead_list(struct req *r);
int h_admin_dead_retry(struct req *r);

/* h_health.c */
int h_health_live(struct req *r);
int h_health_ready(struct req *r);
int h_health_metrics(struct req *r);

#endif
