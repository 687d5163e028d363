// Hand-kept to match migrations/{postgres,sqlite}; both backends share these types.
diesel::table! {
    accounts (id) {
        id -> Text,
        name -> Text,
        default_contact_access -> Text,
        contact_statuses -> Text,
        lead_sources -> Text,
        deal_stages -> Text,
        version -> BigInt,
        created_at -> Timestamp,
        updated_at -> Timestamp,
        call_results -> Text,
    }
}

diesel::table! {
    users (id) {
        id -> Text,
        account_id -> Text,
        email -> Text,
        email_lower -> Text,
        password_hash -> Text,
        first_name -> Text,
        last_name -> Text,
        role -> Text,
        privileges -> BigInt,
        active -> Bool,
        version -> BigInt,
        created_at -> Timestamp,
        updated_at -> Timestamp,
    }
}

diesel::table! {
    offices (id) {
        id -> Text,
        account_id -> Text,
        name -> Text,
        address -> Nullable<Text>,
        version -> BigInt,
        created_at -> Timestamp,
        updated_at -> Timestamp,
    }
}

diesel::table! {
    office_memberships (user_id, office_id) {
        user_id -> Text,
        office_id -> Text,
        account_id -> Text,
        level -> Integer,
    }
}

diesel::table! {
    refresh_tokens (id) {
        id -> Text,
        account_id -> Text,
        user_id -> Text,
        family_id -> Text,
        token_hash -> Text,
        expires_at -> Timestamp,
        used_at -> Nullable<Timestamp>,
        revoked_at -> Nullable<Timestamp>,
        created_at -> Timestamp,
    }
}

diesel::table! {
    api_tokens (id) {
        id -> Text,
        account_id -> Text,
        user_id -> Text,
        name -> Text,
        token_hash -> Text,
        prefix -> Text,
        expires_at -> Nullable<Timestamp>,
        created_at -> Timestamp,
    }
}

diesel::table! {
    audit_log (id) {
        id -> Text,
        account_id -> Text,
        actor_id -> Nullable<Text>,
        action -> Text,
        entity_type -> Text,
        entity_id -> Text,
        changes -> Text,
        created_at -> Timestamp,
        contact_id -> Nullable<Text>,
    }
}

diesel::table! {
    organizations (id) {
        id -> Text,
        account_id -> Text,
        name -> Text,
        website -> Nullable<Text>,
        phone -> Nullable<Text>,
        address -> Nullable<Text>,
        version -> BigInt,
        created_at -> Timestamp,
        updated_at -> Timestamp,
        custom_fields -> Text,
    }
}

diesel::table! {
    contacts (id) {
        id -> Text,
        account_id -> Text,
        first_name -> Text,
        last_name -> Text,
        email -> Nullable<Text>,
        phone -> Nullable<Text>,
        job_title -> Nullable<Text>,
        organization_id -> Nullable<Text>,
        status -> Nullable<Text>,
        lead_source -> Nullable<Text>,
        owner_id -> Nullable<Text>,
        office_id -> Nullable<Text>,
        private -> Bool,
        search_text -> Text,
        version -> BigInt,
        created_at -> Timestamp,
        updated_at -> Timestamp,
        tags -> Text,
        custom_fields -> Text,
    }
}

diesel::table! {
    contact_tags (contact_id, tag) {
        contact_id -> Text,
        account_id -> Text,
        tag -> Text,
    }
}

diesel::table! {
    notifications (id) {
        id -> Text,
        account_id -> Text,
        user_id -> Text,
        kind -> Text,
        message -> Text,
        entity_type -> Text,
        entity_id -> Text,
        read_at -> Nullable<Timestamp>,
        created_at -> Timestamp,
        actor_id -> Nullable<Text>,
        contact_id -> Nullable<Text>,
    }
}

diesel::table! {
    deals (id) {
        id -> Text,
        account_id -> Text,
        contact_id -> Text,
        organization_id -> Nullable<Text>,
        name -> Text,
        amount -> BigInt,
        currency -> Text,
        stage -> Text,
        status -> Text,
        expected_close_date -> Nullable<Text>,
        owner_id -> Nullable<Text>,
        version -> BigInt,
        created_at -> Timestamp,
        updated_at -> Timestamp,
        custom_fields -> Text,
    }
}

diesel::table! {
    deal_items (id) {
        id -> Text,
        deal_id -> Text,
        account_id -> Text,
        name -> Text,
        quantity -> BigInt,
        unit_price -> BigInt,
        created_at -> Timestamp,
    }
}

diesel::table! {
    actions (id) {
        id -> Text,
        account_id -> Text,
        contact_id -> Text,
        assignee_id -> Nullable<Text>,
        text -> Text,
        due_date -> Nullable<Text>,
        status -> Text,
        completed_at -> Nullable<Timestamp>,
        version -> BigInt,
        created_at -> Timestamp,
        updated_at -> Timestamp,
    }
}

diesel::table! {
    interactions (id) {
        id -> Text,
        account_id -> Text,
        kind -> Text,
        contact_id -> Text,
        deal_id -> Nullable<Text>,
        author_id -> Nullable<Text>,
        body -> Text,
        direction -> Nullable<Text>,
        result -> Nullable<Text>,
        duration_seconds -> Nullable<BigInt>,
        occurred_at -> Timestamp,
        version -> BigInt,
        created_at -> Timestamp,
        updated_at -> Timestamp,
    }
}

diesel::table! {
    interaction_mentions (interaction_id, user_id) {
        interaction_id -> Text,
        user_id -> Text,
        account_id -> Text,
    }
}

diesel::table! {
    custom_fields (id) {
        id -> Text,
        account_id -> Text,
        entity -> Text,
        key -> Text,
        label -> Text,
        #[sql_name = "type"]
        field_type -> Text,
        options -> Text,
        required -> Bool,
        version -> BigInt,
        created_at -> Timestamp,
        updated_at -> Timestamp,
    }
}

diesel::table! {
    custom_values (field_id, entity_id, value_text) {
        field_id -> Text,
        entity_id -> Text,
        account_id -> Text,
        value_text -> Text,
        value_number -> Nullable<Double>,
    }
}

diesel::table! {
    saved_filters (id) {
        id -> Text,
        account_id -> Text,
        owner_id -> Text,
        name -> Text,
        entity -> Text,
        query -> Text,
        shared -> Bool,
        version -> BigInt,
        created_at -> Timestamp,
        updated_at -> Timestamp,
    }
}

diesel::table! {
    login_throttle (key) {
        key -> Text,
        tokens -> Double,
        updated_ms -> BigInt,
        allowed -> Bool,
    }
}

diesel::table! {
    idempotency_keys (user_id, key) {
        user_id -> Text,
        key -> Text,
        request_digest -> Text,
        status -> Nullable<Integer>,
        response_headers -> Nullable<Text>,
        response_body -> Nullable<Text>,
        locked_until -> Timestamp,
        created_at -> Timestamp,
    }
}

diesel::table! {
    webhooks (id) {
        id -> Text,
        account_id -> Text,
        user_id -> Text,
        url -> Text,
        events -> Text,
        secret -> Text,
        active -> Bool,
        disabled_reason -> Nullable<Text>,
        failing_since -> Nullable<Timestamp>,
        version -> BigInt,
        created_at -> Timestamp,
        updated_at -> Timestamp,
    }
}

diesel::table! {
    webhook_deliveries (seq) {
        seq -> BigInt,
        id -> Text,
        account_id -> Text,
        webhook_id -> Text,
        event_type -> Text,
        entity_type -> Text,
        entity_id -> Text,
        level -> Nullable<Integer>,
        payload -> Text,
        status -> Text,
        attempts -> Integer,
        next_attempt_at -> Timestamp,
        locked_until -> Nullable<Timestamp>,
        last_attempt_at -> Nullable<Timestamp>,
        response_status -> Nullable<Integer>,
        response_body -> Nullable<Text>,
        error -> Nullable<Text>,
        created_at -> Timestamp,
        delivered_at -> Nullable<Timestamp>,
    }
}

diesel::table! {
    sso_configs (account_id) {
        account_id -> Text,
        issuer -> Text,
        client_id -> Text,
        client_secret_sealed -> Text,
        redirect_uris -> Text,
        role_claim -> Text,
        role_map -> Text,
        default_role -> Nullable<Text>,
        enforce -> Bool,
        version -> BigInt,
        created_at -> Timestamp,
        updated_at -> Timestamp,
    }
}

diesel::table! {
    sso_domains (domain) {
        domain -> Text,
        account_id -> Text,
    }
}

diesel::table! {
    scim_tokens (id) {
        id -> Text,
        account_id -> Text,
        created_by -> Text,
        name -> Text,
        token_hash -> Text,
        prefix -> Text,
        created_at -> Timestamp,
    }
}

diesel::table! {
    scim_external_ids (user_id) {
        user_id -> Text,
        account_id -> Text,
        external_id -> Text,
    }
}

diesel::table! {
    sso_logins (state_hash) {
        state_hash -> Text,
        account_id -> Text,
        nonce -> Text,
        pkce_verifier -> Text,
        redirect_uri -> Text,
        expires_at -> Timestamp,
    }
}

diesel::table! {
    sso_codes (code_hash) {
        code_hash -> Text,
        account_id -> Text,
        user_id -> Text,
        expires_at -> Timestamp,
    }
}

diesel::joinable!(webhook_deliveries -> webhooks (webhook_id));
diesel::joinable!(users -> accounts (account_id));
diesel::joinable!(deal_items -> deals (deal_id));
diesel::joinable!(contact_tags -> contacts (contact_id));
diesel::joinable!(offices -> accounts (account_id));
diesel::joinable!(office_memberships -> offices (office_id));
diesel::joinable!(office_memberships -> users (user_id));

diesel::allow_tables_to_appear_in_same_query!(
    accounts,
    users,
    offices,
    office_memberships,
    refresh_tokens,
    api_tokens,
    audit_log,
    organizations,
    contacts,
    contact_tags,
    notifications,
    deals,
    deal_items,
    actions,
    interactions,
    interaction_mentions,
    custom_fields,
    custom_values,
    saved_filters,
    idempotency_keys,
    login_throttle,
    webhooks,
    webhook_deliveries,
    sso_configs,
    sso_domains,
    scim_tokens,
    scim_external_ids,
    sso_logins,
    sso_codes,
);
