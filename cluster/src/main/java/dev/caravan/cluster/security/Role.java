package dev.caravan.cluster.security;

import java.security.cert.X509Certificate;
import java.util.Locale;
import java.util.Optional;
import javax.naming.InvalidNameException;
import javax.naming.ldap.LdapName;
import javax.naming.ldap.Rdn;

/**
 * What a cluster certificate lets its holder do, written in the certificate's subject as the organizational unit
 * ({@code OU=coordinator} or {@code OU=worker}; {@code caravan certs} issues them so). Servers on internal ports check
 * it per method ({@link RoleCheck}): only the coordinator controls workers ({@code Shard.Release}, {@code Shard.Status}),
 * workers deliver results ({@code PipelineSink}), both send frames to a stage ({@code Shard.Forward}).
 */
public enum Role {
  COORDINATOR,
  WORKER;

  /** The OU value that names this role. */
  public String unit() {
    return name().toLowerCase(Locale.ROOT);
  }

  /** The role the certificate's subject names, or empty when it names none (or several). */
  public static Optional<Role> of(X509Certificate cert) {
    Role found = null;
    try {
      for (Rdn rdn : new LdapName(cert.getSubjectX500Principal().getName()).getRdns()) {
        if (rdn.getType().equalsIgnoreCase("OU")) {
          for (Role r : values()) {
            if (r.unit().equalsIgnoreCase(String.valueOf(rdn.getValue()))) {
              if (found != null && found != r) {
                return Optional.empty(); // two roles: trust neither
              }
              found = r;
            }
          }
        }
      }
    } catch (InvalidNameException e) {
      return Optional.empty();
    }
    return Optional.ofNullable(found);
  }

  /** Parses a role name as typed on a command line. */
  public static Role parse(String s) {
    for (Role r : values()) {
      if (r.unit().equalsIgnoreCase(s)) {
        return r;
      }
    }
    throw new IllegalArgumentException("no role '" + s + "': coordinator or worker");
  }
}
