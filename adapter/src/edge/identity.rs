//! Who the caller is, as the upgrade hook decided: [`Identity`].

use std::any::{type_name, Any};
use std::fmt;
use std::sync::Arc;

/// Who the peer of a connection is, as the [`Hook`](super::Hook) decided when it accepted
/// it: any value the application chooses (a user name, a node id, a set of roles), or
/// nobody in particular ([`anonymous`](Self::anonymous), the identity of every connection
/// accepted without a hook).
///
/// Cheap to clone: the value is shared.
///
/// ```
/// use tether_adapter::Identity;
///
/// #[derive(Debug, PartialEq)]
/// struct Node(u64);
///
/// let identity = Identity::new(Node(3));
/// assert_eq!(identity.get::<Node>(), Some(&Node(3)));
/// assert_eq!(identity.get::<String>(), None);
/// assert!(Identity::anonymous().is_anonymous());
/// ```
#[derive(Clone, Default)]
pub struct Identity {
    value: Option<Arc<dyn Any + Send + Sync>>,
    /// For `Debug`: the value's type.
    type_name: &'static str,
}

impl Identity {
    /// An identity holding `value`.
    pub fn new<T: Any + Send + Sync>(value: T) -> Identity {
        Identity {
            value: Some(Arc::new(value)),
            type_name: type_name::<T>(),
        }
    }

    /// Nobody in particular.
    pub fn anonymous() -> Identity {
        Identity::default()
    }

    /// Whether it is [`anonymous`](Self::anonymous).
    pub fn is_anonymous(&self) -> bool {
        self.value.is_none()
    }

    /// The value, if it is a `T`.
    pub fn get<T: Any>(&self) -> Option<&T> {
        self.value.as_deref()?.downcast_ref()
    }
}

impl fmt::Debug for Identity {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self.value {
            Some(_) => write!(f, "Identity({})", self.type_name),
            None => f.write_str("Identity(anonymous)"),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn debug_names_the_type_not_the_value() {
        // The value may be a secret (a token's claims); its type is not.
        assert_eq!(format!("{:?}", Identity::new("s3cret")), "Identity(&str)");
        assert_eq!(
            format!("{:?}", Identity::anonymous()),
            "Identity(anonymous)"
        );
    }

    #[test]
    fn clones_share_the_value() {
        let identity = Identity::new(String::from("ops"));
        let clone = identity.clone();
        assert!(std::ptr::eq(
            identity.get::<String>().expect("a String"),
            clone.get::<String>().expect("a String")
        ));
        assert!(!clone.is_anonymous());
    }
}
